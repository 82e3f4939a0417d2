"""Full-reference metrics against a ground truth: PSNR and SSIM.

Each function takes ``fused`` and ``reference``, (H, W) float64 arrays of grey levels 0..255.

Colour: these functions see one grey plane; `mfif.metrics.compute` passes luminance Y
(BT.601) of colour images, or each of R, G, B in turn with ``color="mean"``.
"""

from __future__ import annotations

import numpy as np

from .structural import GAUSSIAN_WINDOW_11, ssim_maps

__all__ = ["peak_signal_to_noise_ratio", "structural_similarity"]


def peak_signal_to_noise_ratio(fused: np.ndarray, reference: np.ndarray) -> float:
    """PSNR = 10 log10(255² / MSE) in dB; higher is better, ``inf`` for identical images."""
    mse = float(np.mean((np.asarray(fused, np.float64) - np.asarray(reference, np.float64)) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(255.0**2 / mse))


def structural_similarity(fused: np.ndarray, reference: np.ndarray) -> float:
    """SSIM (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 13(4), 2004), as their ssim_index.m:
    11 x 11 Gaussian window σ 1.5, K = (0.01, 0.03), L = 255, mean over windows inside the
    image. Range [-1, 1]; higher is better."""
    c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
    ssim_map = ssim_maps(
        np.asarray(fused, np.float64), np.asarray(reference, np.float64), GAUSSIAN_WINDOW_11, c1, c2
    )[0]
    return float(np.mean(ssim_map))
