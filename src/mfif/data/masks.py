"""Object/background focus pairs from a sharp image and an object mask (UFA-Fuse eq. (11)).

One source has the masked object sharp and the background defocused, the other the reverse;
the sharp image is the ground truth. Blur kernels follow the synthetic-data recipes of
UFA-Fuse and MSA-Siamese: Gaussian, mean filter (sizes in UFA-Fuse's bands [2,3], [4,5],
[5,7], [8,10]) and disk (a thin-lens defocus).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .synthetic import disk_kernel

__all__ = ["PSF_KINDS", "MEAN_FILTER_BANDS", "BlurSpec", "draw_blur", "blur", "mask_pair"]

PSF_KINDS = ("gaussian", "mean", "disk")
MEAN_FILTER_BANDS = ((2, 3), (4, 5), (5, 7), (8, 10))  # UFA-Fuse section III-B, step (i)


@dataclass(frozen=True)
class BlurSpec:
    """A point-spread function: ``kind`` and its size (σ for Gaussian, side for mean filter,
    radius for disk, in pixels)."""

    kind: str
    size: float

    def as_dict(self) -> dict:
        return asdict(self)


def draw_blur(rng: np.random.Generator, kinds: tuple[str, ...] = PSF_KINDS) -> BlurSpec:
    """A random blur: a kind from ``kinds``, then a strength typical of that kind.

    Gaussian σ in [1, 4]; mean filter side from a random UFA-Fuse band; disk radius in [2, 8].
    """
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "gaussian":
        return BlurSpec(kind, round(float(rng.uniform(1.0, 4.0)), 3))
    if kind == "mean":
        low, high = MEAN_FILTER_BANDS[int(rng.integers(len(MEAN_FILTER_BANDS)))]
        return BlurSpec(kind, float(rng.integers(low, high + 1)))
    return BlurSpec(kind, round(float(rng.uniform(2.0, 8.0)), 3))


def blur(image: np.ndarray, spec: BlurSpec) -> np.ndarray:
    """Apply ``spec`` to an (H, W[, C]) float32 image (reflected borders)."""
    if spec.kind == "gaussian":
        out = cv2.GaussianBlur(image, (0, 0), spec.size, borderType=cv2.BORDER_REFLECT)
    elif spec.kind == "mean":
        side = int(spec.size)
        out = cv2.blur(image, (side, side), borderType=cv2.BORDER_REFLECT)
    elif spec.kind == "disk":
        out = cv2.filter2D(image, -1, disk_kernel(spec.size), borderType=cv2.BORDER_REFLECT)
    else:
        raise ValueError(f"Unknown blur kind {spec.kind!r}; choose one of {', '.join(PSF_KINDS)}.")
    return out.reshape(image.shape)


def mask_pair(
    image: np.ndarray, mask: np.ndarray, spec: BlurSpec, *, transition: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """The two sources: object sharp (A) and background sharp (B).

    UFA-Fuse eq. (11): A = M ⊙ I + (1 - M) ⊙ I_b and B = (1 - M) ⊙ I + M ⊙ I_b, with I_b the
    blurred image. The binary mask is softened by a Gaussian of σ = ``transition`` pixels so
    the two regions meet without a cut-out seam (0 keeps it hard).

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), float32 in [0, 1]
    mask : ndarray of shape (H, W), bool or {0, 1}
    spec : BlurSpec
    transition : float

    Returns
    -------
    near, far : ndarrays like ``image``, float32 in [0, 1]
    """
    soft = mask.astype(np.float32)
    if transition > 0:
        soft = cv2.GaussianBlur(soft, (0, 0), transition, borderType=cv2.BORDER_REFLECT)
    if image.ndim == 3:
        soft = soft[..., None]
    blurred = blur(image, spec)
    near = soft * image + (1.0 - soft) * blurred
    far = (1.0 - soft) * image + soft * blurred
    return np.clip(near, 0.0, 1.0), np.clip(far, 0.0, 1.0)
