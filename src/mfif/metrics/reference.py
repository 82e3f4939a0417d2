"""Full-reference metrics against a ground truth: PSNR and SSIM."""

from __future__ import annotations

import numpy as np

from ..color import luminance
from ..errors import StackError

__all__ = ["luminance_8bit", "psnr", "ssim"]


def luminance_8bit(image: np.ndarray) -> np.ndarray:
    """Luma Y (BT.601) rounded to 8-bit levels, as OpenCV's YCrCb does.

    Parameters
    ----------
    image : ndarray of shape (H, W), (H, W, 1) or (H, W, 3), float in [0, 1]

    Returns
    -------
    ndarray of shape (H, W), float64 in [0, 255], integer-valued
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    return np.rint(np.clip(luminance(image), 0.0, 1.0) * 255.0).astype(np.float64)


def _pair(fused: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if np.shape(fused)[:2] != np.shape(reference)[:2]:
        raise StackError(
            f"The images must have the same size; got {np.shape(fused)} and {np.shape(reference)}."
        )
    return luminance_8bit(fused), luminance_8bit(reference)


def psnr(fused: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio on 8-bit luminance, in dB; higher is better.

    Parameters
    ----------
    fused, reference : ndarray of shape (H, W) or (H, W, C), float in [0, 1]

    Returns
    -------
    float
        10 log10(255² / MSE); ``inf`` for identical images.
    """
    a, b = _pair(fused, reference)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(255.0**2 / mse))


def ssim(fused: np.ndarray, reference: np.ndarray) -> float:
    """Structural similarity (Wang et al., IEEE TIP 2004) on 8-bit luminance; in [-1, 1],
    higher is better. Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, as the paper.

    Parameters
    ----------
    fused, reference : ndarray of shape (H, W) or (H, W, C), float in [0, 1]

    Returns
    -------
    float
    """
    from skimage.metrics import structural_similarity

    a, b = _pair(fused, reference)
    return float(
        structural_similarity(
            a, b, data_range=255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )
