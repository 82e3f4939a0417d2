"""What a camera adds to the light it records, for ground-truth stacks that look like real ones:
signal-dependent sensor noise, and JPEG compression of the files.

Noise model (shot plus read noise, per channel, independent per pixel): a sample of true value
x in [0, 1] is recorded as x + n with n ~ N(0, σ_r² + g·x), where the read noise σ_r is a quarter
of the σ asked for and the gain g makes the total σ at mid-grey (x = 0.5) the σ asked for. So
``noise=3`` gives σ ≈ 0.75 levels in the black, 3 at mid-grey and 4.2 at white (8-bit levels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import OptionError, StackError
from ..io import to_integer

__all__ = ["Capture", "READ_NOISE_SHARE"]

READ_NOISE_SHARE = 0.25  # σ_r as a share of the σ at mid-grey


@dataclass(frozen=True)
class Capture:
    """How the frames of a synthetic stack are recorded.

    Attributes
    ----------
    noise : float
        σ of the sensor noise at mid-grey, in 8-bit levels (0: none); signal-dependent (see the
        module's docstring).
    jpeg : int or None
        Write the frames as JPEG of this quality (1-100); None: lossless PNG. The ground truth
        is always lossless.
    """

    noise: float = 0.0
    jpeg: int | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.noise <= 255):
            raise OptionError(f"noise must be a σ in 8-bit levels from 0 to 255; got {self.noise}.")
        if self.jpeg is not None and not (1 <= self.jpeg <= 100):
            raise OptionError(f"jpeg must be a quality from 1 to 100; got {self.jpeg}.")

    def add_noise(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``image`` (H, W[, C]) float32 in [0, 1] with this camera's sensor noise, clipped."""
        if self.noise <= 0:
            return image
        middle = self.noise / 255.0
        read = READ_NOISE_SHARE * middle
        gain = (middle**2 - read**2) / 0.5  # variance per unit of signal
        variance = read**2 + gain * np.clip(image, 0.0, 1.0)
        noise = rng.standard_normal(image.shape).astype(np.float32)
        noisy = image + noise * np.sqrt(variance).astype(np.float32)
        return np.clip(noisy, 0.0, 1.0).astype(np.float32)

    @property
    def suffix(self) -> str:
        """The frames' file suffix."""
        return ".png" if self.jpeg is None else ".jpg"

    def as_dict(self) -> dict:
        return {**asdict(self), "noise_model": "shot + read, σ_r = σ/4"}


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    """8-bit JPEG bytes of ``image`` (H, W[, C]) float32 in [0, 1] at ``quality`` (1-100)."""
    import cv2

    samples = to_integer(image, 8)
    bgr = samples[..., ::-1] if samples.ndim == 3 else samples
    ok, encoded = cv2.imencode(
        ".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise StackError("A source could not be encoded as JPEG.")
    return encoded.tobytes()


def through_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (H, W, 3) float32 in [0, 1] as a camera storing JPEG of ``quality`` returns
    it: encoded and decoded, float32 (H, W, 3)."""
    import cv2

    encoded = np.frombuffer(jpeg_bytes(image, quality), np.uint8)
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    return decoded.astype(np.float32) / 255.0
