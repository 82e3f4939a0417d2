"""What real stacks add to rendered training stacks, as options of
`mfif.data.focus_stacks.StackSampler`: camera noise, JPEG, the residue an alignment leaves, and
occlusion (a defocused object spreading over a background that no frame focuses).

The networks trained on clean renders lose the most on realistic stacks; these let a recipe
show them what users' stacks look like. Every option is off by default, and a sampler without
them draws exactly what it drew before (no random draw is spent on them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import OptionError
from ..warp import resample
from .camera import Capture, through_jpeg

__all__ = ["Realism"]

_JPEG_QUALITIES = (75, 96)  # drawn from [75, 95]


@dataclass(frozen=True)
class Realism:
    """How training stacks are made realistic.

    Attributes
    ----------
    noise : float
        Largest camera noise, σ at mid-grey in 8-bit levels (shot + read, `mfif.data.camera`);
        each stack draws its σ uniformly from 0 to this.
    jpeg : float
        Share of stacks stored as JPEG (quality 75-95).
    residue : float
        Largest residue of an alignment, in pixels: every source but one is shifted by up to
        this much in x and y (sub-pixel, bicubic clamped as `mfif.warp.resample` does).
    layered : float
        Share of mask-based stacks rendered as layered occlusion instead
        (`mfif.data.layered.render_layers`: the object in front, its blur spreading over a
        background that no source focuses), with per-pixel targets from the truth.
    """

    noise: float = 0.0
    jpeg: float = 0.0
    residue: float = 0.0
    layered: float = 0.0

    def __post_init__(self) -> None:
        for name in ("jpeg", "layered"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise OptionError(f"{name} is a share from 0 to 1; got {getattr(self, name)}.")
        if not 0.0 <= self.noise <= 255.0 or not 0.0 <= self.residue <= 8.0:
            raise OptionError("noise must be from 0 to 255 levels and residue from 0 to 8 px.")

    @property
    def active(self) -> bool:
        return any(asdict(self).values())

    def degrade(self, sources: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``sources`` (K, H, W, 3) float32 in [0, 1] as an alignment and a camera leave them:
        the residue first, then noise, then JPEG; a new array."""
        degraded = np.array(sources, dtype=np.float32, copy=True)
        if self.residue > 0:
            kept = int(rng.integers(len(degraded)))
            for k in range(len(degraded)):
                if k != kept:
                    x, y = rng.uniform(-self.residue, self.residue, 2)
                    shift = np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])
                    degraded[k] = resample(degraded[k], shift, degraded.shape[1:3], sharp=True)
        if self.noise > 0:
            capture = Capture(noise=float(rng.uniform(0.0, self.noise)))
            degraded = np.stack([capture.add_noise(source, rng) for source in degraded])
        if self.jpeg > 0 and rng.random() < self.jpeg:
            quality = int(rng.integers(*_JPEG_QUALITIES))
            degraded = np.stack([through_jpeg(source, quality) for source in degraded])
        return degraded

    def as_dict(self) -> dict:
        return asdict(self)
