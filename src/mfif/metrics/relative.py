"""The DFP paper's relative metrics: RMG, REI, RIE, RMGA, RECO (lower is better, ideal 0).

DFP (Deep Fusion Prior, ../shared/papers/dfp-deep-fusion-prior.txt, section 4.2) scores an
output F by how far a statistic of F lies from the mean of that statistic over the ground
truths of the inputs (GT¹, GT²: the sharp, full-resolution source images):
R·(F) = |S(F) - (S(GT¹) + S(GT²)) / 2|, eqs. (24b)-(27b); RECO, eq. (28), compares polar edge
coherence. Each function takes ``references`` (a sequence of (H, W) float64 arrays, grey
levels 0..255; usually the sources) and ``fused`` ((H, W) float64, 0..255).

Colour: these functions see one grey plane; `mfif.metrics.compute` passes luminance Y
(BT.601) of colour images, or each of R, G, B in turn with ``color="mean"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage

from ._common import MetricError, entropy_bits, matlab_round
from .statistics import edge_intensity

__all__ = [
    "mean_gradient",
    "two_dimensional_entropy",
    "edge_coherence",
    "relative_mean_gradient",
    "relative_edge_intensity",
    "relative_entropy",
    "relative_mean_grey",
    "relative_edge_coherence",
]


def mean_gradient(image: np.ndarray) -> float:
    """MG, DFP eq. (24a): mean of |∇x I| + |∇y I| (forward differences, 0 on the last
    row/column). The printed equation sums signed gradients, which would telescope to the
    border difference; absolute values are what "rate of contrast change" means."""
    image = np.asarray(image, np.float64)
    dx = np.abs(np.diff(image, axis=1)).sum()
    dy = np.abs(np.diff(image, axis=0)).sum()
    return float((dx + dy) / image.size)


def two_dimensional_entropy(image: np.ndarray) -> float:
    """IE, DFP eq. (26a): entropy of pairs (grey level, rounded 3 x 3 neighbourhood mean), in
    bits (the paper writes "lg"; bits keep it comparable with SEN)."""
    image = np.asarray(image, np.float64)
    neighbourhood = matlab_round(ndimage.uniform_filter(image, size=3, mode="nearest"))
    levels = np.clip(image, 0, 255).astype(np.int64)
    means = np.clip(neighbourhood, 0, 255).astype(np.int64)
    counts = np.bincount((levels * 256 + means).ravel(), minlength=256 * 256).astype(np.float64)
    return entropy_bits(counts / counts.sum())


def _laguerre_gauss(order: int, sigma: float) -> np.ndarray:
    """Circular harmonic of the given angular order with a Gaussian envelope:
    (r/σ)^n exp(-r²/2σ²) e^{inγ}, normalised to unit energy; support ±4σ."""
    half = int(np.ceil(4 * sigma))
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    radius = np.hypot(x, y) / sigma
    kernel = radius**order * np.exp(-(radius**2) / 2.0) * np.exp(1j * order * np.arctan2(y, x))
    return kernel / np.sqrt(np.sum(np.abs(kernel) ** 2))


def edge_coherence(image: np.ndarray, *, sigma: float = 2.0) -> float:
    """ECO: polar edge coherence, after Baroncini, Capodiferro, Di Claudio & Jacovitti, "The
    polar edge coherence: a quasi blind metric for video quality assessment", EUSIPCO 2009.

    At an ideal straight edge the third-order circular-harmonic response has exactly three
    times the phase of the first-order one; ECO sums -|y1||y3| cos(∠y3 - 3∠y1) over the image,
    which is large for sharp, coherent edges and near 0 for noise or blur. Written from that
    description; the paper's exact filter normalisation was not available to us, so absolute
    ECO values are ours (RECO uses ratios).
    """
    image = np.asarray(image, np.float64)
    responses = []
    for order in (1, 3):
        kernel = _laguerre_gauss(order, sigma)
        real = cv2.filter2D(image, cv2.CV_64F, kernel.real, borderType=cv2.BORDER_REFLECT)
        imag = cv2.filter2D(image, cv2.CV_64F, kernel.imag, borderType=cv2.BORDER_REFLECT)
        responses.append(real + 1j * imag)
    first, third = responses
    coherence = -np.abs(first) * np.abs(third) * np.cos(np.angle(third) - 3 * np.angle(first))
    return float(coherence.sum() / image.size)


def _relative(statistic, references: Sequence[np.ndarray], fused: np.ndarray) -> float:
    if not references:
        raise MetricError("Relative metrics need at least one reference image.")
    reference_mean = np.mean([statistic(np.asarray(r, np.float64)) for r in references])
    return float(abs(statistic(np.asarray(fused, np.float64)) - reference_mean))


def relative_mean_gradient(references: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """RMG, DFP eq. (24b): |MG(F) - mean MG(GT)|; lower is better."""
    return _relative(mean_gradient, references, fused)


def relative_edge_intensity(references: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """REI, DFP eq. (25b): |EI(F) - mean EI(GT)| with EI the mean Sobel magnitude (as the
    field's EI; eq. (25a) as printed takes one square root of the whole sum); lower is better."""
    return _relative(edge_intensity, references, fused)


def relative_entropy(references: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """RIE, DFP eq. (26b): |IE(F) - mean IE(GT)|, IE the 2-D entropy; lower is better."""
    return _relative(two_dimensional_entropy, references, fused)


def relative_mean_grey(references: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """RMGA, DFP eq. (27b): |mean grey(F) - mean of mean grey(GT)|; lower is better."""
    return _relative(lambda image: float(image.mean()), references, fused)


def relative_edge_coherence(
    references: Sequence[np.ndarray], fused: np.ndarray, *, regularisation: float = 1.0
) -> float:
    """RECO, DFP eq. (28): |N - Σ_k (ECO(F) + C) / (ECO(GT_k) + C)| over the N references
    (N = 2 in the paper: fore- and background ground truths); lower is better, ideal 0."""
    if not references:
        raise MetricError("RECO needs at least one reference image.")
    fused_eco = edge_coherence(fused) + regularisation
    ratios = [fused_eco / (edge_coherence(r) + regularisation) for r in references]
    return float(abs(len(references) - sum(ratios)))
