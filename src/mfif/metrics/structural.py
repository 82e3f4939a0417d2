"""Structural-similarity metrics: Piella's Q_S / Q_W / Q_E, Cvejic's Q_C, Yang's Q_Y.

Ports of the canonical MATLAB code: metricPeilla.m (Z. Liu; Yu Liu's corrected copy),
metricCvejic.m (MFIF-Metrics, TPAMI 2024) and metricYang.m (Z. Liu; Yu Liu's NaN fix).
All local statistics are over windows lying inside the image (MATLAB ``filter2 'valid'``).

All functions take ``sources`` (two (H, W) float64 arrays of grey levels 0..255) and
``fused`` ((H, W) float64, 0..255).

Colour: these functions see one grey plane; `mfif.metrics.compute` passes luminance Y
(BT.601) of colour images, or each of R, G, B in turn with ``color="mean"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._common import (
    MetricError,
    box_sum_valid,
    filter2_same,
    filter2_valid,
    gaussian_kernel_1d,
    require_finite,
)

__all__ = [
    "piella",
    "piella_zheng_liu",
    "cvejic",
    "yang",
    "ssim_maps",
    "Window",
    "GAUSSIAN_WINDOW_11",
]


@dataclass(frozen=True)
class Window:
    """A local window: 'box' of side ``size`` or a Gaussian of ``size`` and ``sigma``."""

    size: int
    sigma: float | None = None  # None: box

    def mean(self, image: np.ndarray) -> np.ndarray:
        if self.sigma is None:
            return box_sum_valid(image, self.size) / float(self.size * self.size)
        kernel = gaussian_kernel_1d(self.size, self.sigma)
        return filter2_valid(image, kernel, kernel)


_BOX8 = Window(8)
GAUSSIAN_WINDOW_11 = Window(11, 1.5)
_GAUSS7 = Window(7, 1.5)


def ssim_maps(
    first: np.ndarray, second: np.ndarray, window: Window, c1: float, c2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SSIM map, σ_1², σ_2² and σ_12 (Wang et al. ssim_index.m, 'valid' windows)."""
    if min(first.shape) < window.size:
        raise MetricError(
            f"The images are {first.shape[1]}x{first.shape[0]}; this metric needs at least "
            f"{window.size}x{window.size} pixels."
        )
    mu1 = window.mean(first)
    mu2 = window.mean(second)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = window.mean(first * first) - mu1_sq
    sigma2_sq = window.mean(second * second) - mu2_sq
    sigma12 = window.mean(first * second) - mu12
    ssim = ((2 * mu12 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    )
    return ssim, sigma1_sq, sigma2_sq, sigma12


def _saliency(
    sigma1_sq: np.ndarray, sigma2_sq: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """λ = σ_A² / (σ_A² + σ_B²), with 0.5 added to both where their sum is exactly 0."""
    flat = (sigma1_sq + sigma2_sq) == 0
    sigma1_sq = sigma1_sq + flat * 0.5
    sigma2_sq = sigma2_sq + flat * 0.5
    return sigma1_sq / (sigma1_sq + sigma2_sq), sigma1_sq, sigma2_sq


def _piella_terms(
    first: np.ndarray,
    second: np.ndarray,
    fused: np.ndarray,
    window: Window,
    c: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    _, sigma1_sq, sigma2_sq, _ = ssim_maps(first, second, window, *c)
    weight, sigma1_sq, sigma2_sq = _saliency(sigma1_sq, sigma2_sq)
    ssim1 = ssim_maps(fused, first, window, *c)[0]
    ssim2 = ssim_maps(fused, second, window, *c)[0]
    local_quality = weight * ssim1 + (1.0 - weight) * ssim2
    salience = np.maximum(sigma1_sq, sigma2_sq)
    return local_quality, salience / salience.sum()


_PREWITT_X = np.array([[1.0, 0.0, -1.0]] * 3)
_PREWITT_Y = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]])


def _edge_image(image: np.ndarray) -> np.ndarray:
    gx = filter2_same(image, _PREWITT_X)
    gy = filter2_same(image, _PREWITT_Y)
    return np.sqrt(gx * gx + gy * gy)


def _piella(
    sources: Sequence[np.ndarray],
    fused: np.ndarray,
    variant: str,
    window: Window,
    c: tuple[float, float],
) -> float:
    first, second = sources
    local_quality, salience = _piella_terms(first, second, fused, window, c)
    if variant == "S":
        return float(np.mean(local_quality))
    weighted = float(np.sum(salience * local_quality))
    if variant == "W":
        return weighted
    edge_quality, edge_salience = _piella_terms(
        _edge_image(first), _edge_image(second), _edge_image(fused), window, c
    )
    return weighted * float(np.sum(edge_salience * edge_quality))  # α = 1


def piella(sources: Sequence[np.ndarray], fused: np.ndarray, *, variant: str = "S") -> float:
    """Piella's fusion quality index with the universal image quality index (UIQI), 8 x 8 box
    windows, as in the original paper; higher is better, range [-1, 1], F = A = B gives 1.

    G. Piella and H. Heijmans, "A new quality metric for image fusion", ICIP 2003.
    ``variant``: "S" mean of λ Q_0(A,F) + (1-λ) Q_0(B,F) (eq. 5); "W" weighted by the
    larger local variance (eq. 6); "E" edge-dependent Q_W(images) · Q_W(Prewitt edge maps)
    (eq. 8, α = 1). Yu Liu's corrected metricPeilla.m (K = [1e-6, 1e-6], ones(8)); the MFIF
    survey reports Q_E and MFIF-Metrics Q_W of this version.
    """
    if variant not in ("S", "W", "E"):
        raise ValueError(f"variant must be 'S', 'W' or 'E'; got {variant!r}.")
    c = (1e-6 * 255.0) ** 2
    return require_finite(_piella(sources, fused, variant, _BOX8, (c, c)), f"Q_{variant}")


def piella_zheng_liu(
    sources: Sequence[np.ndarray], fused: np.ndarray, *, variant: str = "S"
) -> float:
    """Piella's index as in Z. Liu's toolbox: SSIM (K = [0.01, 0.03], 11 x 11 Gaussian σ 1.5)
    instead of UIQI. ``variant`` "S" or "W" (the toolbox's "E" crashes). Higher is better."""
    if variant not in ("S", "W"):
        raise ValueError(f"variant must be 'S' or 'W'; got {variant!r}.")
    c = ((0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2)
    quality = _piella(sources, fused, variant, GAUSSIAN_WINDOW_11, c)
    return require_finite(quality, f"Q_{variant}_ZL")


_TINY_C = 2e-16  # ssim_yang's C1 = C2


def cvejic(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_C (Cvejic et al.): local UIQI of each source with the fused image, weighted by the
    share of covariance σ_AF / (σ_AF + σ_BF) clipped to [0, 1] (0.5 each where it is 0/0);
    higher is better, F = A = B gives 1.

    N. Cvejic, A. Łoza, D. Bull, N. Canagarajah, "A similarity metric for assessment of image
    fusion algorithms", Int. J. Signal Processing 2(3), 2005. MFIF-Metrics (TPAMI 2024)
    metricCvejic.m: 8 x 8 box windows, C = 2e-16. (Z. Liu's older version with a 7 x 7
    Gaussian window is numerically ill-posed in flat regions and is not offered.)
    """
    first, second = sources
    ssim_af, _, _, sigma_af = ssim_maps(first, fused, _BOX8, _TINY_C, _TINY_C)
    ssim_bf, _, _, sigma_bf = ssim_maps(second, fused, _BOX8, _TINY_C, _TINY_C)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = sigma_af / (sigma_af + sigma_bf)
    undefined = np.isnan(share)
    share = np.clip(share, 0.0, 1.0)
    quality = np.where(
        undefined, 0.5 * ssim_af + 0.5 * ssim_bf, share * ssim_af + (1.0 - share) * ssim_bf
    )
    return require_finite(np.mean(quality), "Q_C")


def yang(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_Y (Yang et al.): where the sources are similar (SSIM ≥ 0.75) a variance-weighted mix
    of SSIM(A,F) and SSIM(B,F), elsewhere the larger of the two; higher is better, F = A = B
    gives 1.

    C. Yang, J. Zhang, X. Wang, X. Liu, "A novel similarity based quality metric for image
    fusion", Information Fusion 9(2), 2008. 7 x 7 Gaussian window (σ 1.5), C = 2e-16, with Yu
    Liu's fix for windows where both sources are flat (λ = 0.5). Z. Liu's original differs
    only in those windows, where it returns NaN or floating-point noise (reference NOTES,
    pitfall 2), so it is not offered.
    """
    first, second = sources
    ssim_ab, sigma_a, sigma_b, _ = ssim_maps(first, second, _GAUSS7, _TINY_C, _TINY_C)
    ssim_af = ssim_maps(first, fused, _GAUSS7, _TINY_C, _TINY_C)[0]
    ssim_bf = ssim_maps(second, fused, _GAUSS7, _TINY_C, _TINY_C)[0]
    weight = _saliency(sigma_a, sigma_b)[0]
    quality = np.where(
        ssim_ab >= 0.75, weight * ssim_af + (1.0 - weight) * ssim_bf, np.maximum(ssim_af, ssim_bf)
    )
    return require_finite(np.mean(quality), "Q_Y")
