"""Statistics of the fused image alone: AVG, STD, SEN, SF, EI (higher is sharper/richer).

As computed by MFIF-Metrics (TPAMI 2024): AG.m, SD.m, EN.m, SF.m, metricsEdge_intensity.m.
Each function takes ``fused``, an (H, W) float64 array of grey levels 0..255.

Colour: these functions see one grey plane; `mfif.metrics.compute` passes luminance Y
(BT.601) of colour images, or each of R, G, B in turn with ``color="mean"``.
"""

from __future__ import annotations

import numpy as np

from ._common import MetricError, entropy_bits, filter2_same

__all__ = [
    "average_gradient",
    "standard_deviation",
    "entropy",
    "spatial_frequency",
    "edge_intensity",
]


def average_gradient(fused: np.ndarray) -> float:
    """AVG: mean of sqrt((Δx² + Δy²)/2) with forward differences (0 on the last row/column).

    Cui et al., "Detail preserved fusion of visible and infrared images using regional
    saliency extraction and multi-scale image decomposition", Optics Communications 341, 2015.
    """
    fused = np.asarray(fused, np.float64)
    dx = np.zeros_like(fused)
    dy = np.zeros_like(fused)
    dy[:-1, :] = fused[1:, :] - fused[:-1, :]
    dx[:, :-1] = fused[:, 1:] - fused[:, :-1]
    return float(np.mean(np.sqrt((dx * dx + dy * dy) / 2.0)))


def standard_deviation(fused: np.ndarray) -> float:
    """STD: the mean over columns of each column's sample standard deviation (MATLAB
    ``mean(std(F))``, as MFIF-Metrics computes it; close to, not equal to, std of all pixels)."""
    fused = np.asarray(fused, np.float64)
    if fused.shape[0] < 2:
        raise MetricError("STD needs an image at least 2 pixels high.")
    return float(np.mean(np.std(fused, axis=0, ddof=1)))


def entropy(fused: np.ndarray) -> float:
    """SEN: Shannon entropy of the 256-level grey histogram, in bits; range [0, 8]."""
    levels = np.asarray(fused, np.float64)
    if levels.min() < 0 or levels.max() > 255 or np.any(levels != np.round(levels)):
        raise MetricError("SEN needs integer grey levels 0..255.")
    counts = np.bincount(levels.astype(np.int64).ravel(), minlength=256).astype(np.float64)
    return entropy_bits(counts / counts.sum())


def spatial_frequency(fused: np.ndarray) -> float:
    """SF: sqrt(RF² + CF²), both mean squared first differences divided by H·W.

    A. M. Eskicioglu and P. S. Fisher, "Image quality measures and their performance", IEEE
    Trans. Communications 43(12), 1995.
    """
    fused = np.asarray(fused, np.float64)
    count = fused.size
    rows = np.sum((fused[1:, :] - fused[:-1, :]) ** 2) / count
    cols = np.sum((fused[:, 1:] - fused[:, :-1]) ** 2) / count
    return float(np.sqrt(rows + cols))


_SOBEL = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])


def edge_intensity(fused: np.ndarray) -> float:
    """EI: mean Sobel gradient magnitude, borders replicated.

    B. Rajalingam and R. Priya, "Hybrid multimodality medical image fusion technique for
    feature enhancement in medical diagnosis", Int. J. Engineering Science Invention, 2018.
    """
    fused = np.asarray(fused, np.float64)
    padded = np.pad(fused, 1, mode="edge")
    gx = filter2_same(padded, _SOBEL)[1:-1, 1:-1]
    gy = filter2_same(padded, _SOBEL.T)[1:-1, 1:-1]
    return float(np.mean(np.sqrt(gx * gx + gy * gy)))
