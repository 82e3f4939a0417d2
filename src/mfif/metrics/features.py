"""Image-feature metrics: Q_G (= Q_AB/F), Q_M, Q_SF. (Q_P lives in `phase_congruency`.)

Ports of the canonical MATLAB code: metricXydeas.m in Z. Liu's imageFusionMetrics and in Yu
Liu's corrected copy (MFIF / MFIF-Metrics), metricPWW.m and metricZheng.m (Z. Liu).

All functions take ``sources`` (two (H, W) float64 arrays of grey levels 0..255) and
``fused`` ((H, W) float64, 0..255).

Colour: these functions see one grey plane; `mfif.metrics.compute` passes luminance Y
(BT.601) of colour images, or each of R, G, B in turn with ``color="mean"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._common import MetricError, filter2_same, require_finite

__all__ = [
    "edge_preservation",
    "edge_preservation_zheng_liu",
    "multiscale_edge",
    "spatial_frequency_ratio",
]

_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_SOBEL_Y = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
_TINY = 0.00001  # metricXydeas.m adds this where a value is exactly 0


def _strength_and_angle(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = filter2_same(image, _SOBEL_X)
    gy = filter2_same(image, _SOBEL_Y)
    strength = np.sqrt(gx * gx + gy * gy)
    gx = gx + (gx == 0) * _TINY
    return strength, np.arctan(gy / gx)


def _xydeas(sources: Sequence[np.ndarray], fused: np.ndarray, *, petrovic: bool) -> float:
    fused_strength, fused_angle = _strength_and_angle(fused)
    qualities, weights = [], []
    for source in sources:
        strength, angle = _strength_and_angle(source)
        # The order of the exact-zero guards matters: metricXydeas.m mutates its arrays.
        source_is_stronger = strength > fused_strength
        strength = strength + (strength == 0) * _TINY
        ratio_fused_over_source = fused_strength / strength
        fused_strength = fused_strength + (fused_strength == 0) * _TINY
        ratio_source_over_fused = strength / fused_strength
        strength_preservation = np.where(
            source_is_stronger, ratio_fused_over_source, ratio_source_over_fused
        )
        if petrovic:
            orientation = 1.0 - np.abs(angle - fused_angle) * 2.0 / np.pi  # Petrović eq. (4)
            gamma_g, k_g, delta_g = 0.9994, -15.0, 0.5
            gamma_a, k_a, delta_a = 0.9879, -22.0, 0.8
        else:
            orientation = np.abs(np.abs(angle - fused_angle) - np.pi / 2.0) * 2.0 / np.pi
            gamma_g, k_g, delta_g = 1.0, -10.0, 0.5
            gamma_a, k_a, delta_a = 1.0, -20.0, 0.75
        q_strength = gamma_g / (1.0 + np.exp(k_g * (strength_preservation - delta_g)))
        q_orientation = gamma_a / (1.0 + np.exp(k_a * (orientation - delta_a)))
        qualities.append(q_strength * q_orientation)
        weights.append(strength)  # L = 1
    weighted = sum(q * w for q, w in zip(qualities, weights, strict=True))
    if petrovic:
        return float(weighted.sum() / sum(weights).sum())  # Petrović eq. (8)
    return float(np.mean(weighted / sum(weights)))


def edge_preservation(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_G (Q_AB/F, Xydeas & Petrović) with Petrović's constants; higher is better.

    C. S. Xydeas and V. Petrović, "Objective image fusion performance measure", Electronics
    Letters 36(4), 2000. Sobel edge strength and orientation preservation through sigmoids
    (Γ, κ, σ) = (0.9994, -15, 0.5) and (0.9879, -22, 0.8), weighted by source edge strength:
    Σ(Q^AF w^A + Q^BF w^B) / Σ(w^A + w^B). Yu Liu's corrected metricXydeas.m, as reported by
    the MFIF survey (TPAMI 2021) and MFIF-Metrics (TPAMI 2024). Range [0, 1); F = A = B gives
    0.9748, not 1. This is the Q_G that mfif's benchmark reports.
    """
    return require_finite(_xydeas(sources, fused, petrovic=True), "Q_G")


def edge_preservation_zheng_liu(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_G as in Z. Liu's toolbox: constants (1, -10, 0.5), (1, -20, 0.75), orientation term
    ||α_A - α_F| - π/2| 2/π, and the mean of the per-pixel ratio. Higher is better; F = A = B
    gives 0.98666."""
    return require_finite(_xydeas(sources, fused, petrovic=False), "Q_G_ZL")


def _haar_bands(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One level of matlabPyrTools' buildWpyr(..., 'haar'): low band and three detail bands.

    corrDn with the 2-tap filters [1, 1]/√2 and [-1, 1]/√2 starting at the second sample
    pairs samples (2i, 2i+1); an odd last row or column is dropped.
    """
    height, width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    image = image[:height, :width]
    root2 = np.sqrt(2.0)
    row_low = (image[0::2] + image[1::2]) / root2
    row_high = (image[1::2] - image[0::2]) / root2
    low = (row_low[:, 0::2] + row_low[:, 1::2]) / root2
    horizontal = (row_low[:, 1::2] - row_low[:, 0::2]) / root2
    vertical = (row_high[:, 0::2] + row_high[:, 1::2]) / root2
    diagonal = (row_high[:, 1::2] - row_high[:, 0::2]) / root2
    return low, horizontal, vertical, diagonal


def multiscale_edge(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_M (Wang & Liu): multiscale edge preservation on a 2-level Haar wavelet; higher is
    better.

    P.-W. Wang and B. Liu, "A novel image fusion metric based on multi-scale analysis", ICSP
    2008. Per level, EP = Σ exp(-|X - X_F|) over the three detail bands, weighted by the
    sources' detail energy; Q_M = Q_1^(2/3) Q_2^(1/3). Range (0, 3]; F = A = B gives 3. The
    value depends on the pixel scale: inputs are grey levels 0..255, as in metricPWW.m.
    """
    images = [np.asarray(s, np.float64) for s in sources] + [np.asarray(fused, np.float64)]
    level_scores = []
    for _ in range(2):
        decomposed = [_haar_bands(image) for image in images]
        fused_bands = decomposed[-1][1:]
        numerator = 0.0
        denominator = 0.0
        for bands in decomposed[:-1]:
            details = bands[1:]
            energy = sum(d * d for d in details)
            preservation = sum(
                np.exp(-np.abs(d - f)) for d, f in zip(details, fused_bands, strict=True)
            )
            numerator += float(np.sum(preservation * energy))
            denominator += float(np.sum(energy))
        if denominator == 0.0:
            raise MetricError("Q_M is undefined when neither source has any detail.")
        level_scores.append(numerator / denominator)
        images = [bands[0] for bands in decomposed]
    return require_finite(level_scores[0] ** (2.0 / 3.0) * level_scores[1] ** (1.0 / 3.0), "Q_M")


def _directional_frequencies(image: np.ndarray) -> np.ndarray:
    """Squared first differences along rows, columns, main and secondary diagonals."""
    return (
        image[:, :-1] - image[:, 1:],
        image[:-1, :] - image[1:, :],
        image[1:, 1:] - image[:-1, :-1],
        image[1:, :-1] - image[:-1, 1:],
    )


def spatial_frequency_ratio(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_SF (Zheng et al.): relative spatial-frequency error (SF_F - SF_R) / SF_R; ideal 0.

    Y. Zheng et al., "A new metric based on extended spatial frequency and its application to
    DWT based fusion algorithms", Information Fusion 8(2), 2007. Four directions, diagonals
    weighted by √2/2; the reference SF_R takes the larger source gradient per pixel. Signed:
    negative means the fused image lost detail; rank methods by |Q_SF|.
    """
    fused = np.asarray(fused, np.float64)
    count = fused.size
    diagonal_weight = np.sqrt(2.0) / 2.0
    weights = (1.0, 1.0, diagonal_weight, diagonal_weight)
    fused_terms = [
        w * np.sum(d * d) / count
        for w, d in zip(weights, _directional_frequencies(fused), strict=True)
    ]
    per_source = [_directional_frequencies(np.asarray(s, np.float64)) for s in sources]
    reference_terms = []
    for direction, weight in enumerate(weights):
        largest = np.maximum.reduce([np.abs(differences[direction]) for differences in per_source])
        reference_terms.append(weight * np.sum(largest * largest) / count)
    fused_sf = np.sqrt(sum(fused_terms))
    reference_sf = np.sqrt(sum(reference_terms))
    if reference_sf == 0.0:
        raise MetricError("Q_SF is undefined when both sources are constant.")
    return require_finite((fused_sf - reference_sf) / reference_sf, "Q_SF")
