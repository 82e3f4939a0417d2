"""Information-theory metrics: MI, NMI, Q_TE (Tsallis), Q_NCIE.

Ports of Z. Liu's imageFusionMetrics toolbox (metricMI.m, mutual_info.m, tsallis.m,
metricWang.m, NCC.m). Every image is first min-max stretched to 0..255 and rounded
(``normalize1``), then a 256 x 256 joint histogram is taken. Logarithms are base 2 (bits).

All functions take ``sources`` (a sequence of two (H, W) float64 arrays of grey levels 0..255)
and ``fused`` ((H, W) float64, 0..255).

Colour: these functions see one grey plane; `mfif.metrics.compute` passes luminance Y
(BT.601) of colour images, or each of R, G, B in turn with ``color="mean"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._common import entropy_bits, joint_histogram, normalize_to_levels, require_finite

__all__ = ["mutual_information", "normalized_mutual_information", "tsallis_metric", "ncie"]


def _levels(sources: Sequence[np.ndarray], fused: np.ndarray) -> tuple[np.ndarray, ...]:
    names = [f"source {k + 1}" for k in range(len(sources))]
    return (
        *(normalize_to_levels(s, name=n) for s, n in zip(sources, names, strict=True)),
        normalize_to_levels(fused, name="fused image"),
    )


def _mutual_information(first: np.ndarray, second: np.ndarray) -> tuple[float, float, float]:
    """MI(first, second), H(first), H(second), all in bits."""
    joint = joint_histogram(first, second)
    h_first = entropy_bits(joint.sum(axis=1))
    h_second = entropy_bits(joint.sum(axis=0))
    return h_first + h_second - entropy_bits(joint), h_first, h_second


def mutual_information(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """MI = MI(A, F) + MI(B, F), in bits; higher is better.

    Qu, Zhang & Yan, "Information measure for performance of image fusion", Electronics
    Letters 38(7), 2002. Range [0, 2 log2 256]; F = A = B gives 2 H(A).
    """
    *inputs, fused = _levels(sources, fused)
    return require_finite(sum(_mutual_information(s, fused)[0] for s in inputs), "MI")


def normalized_mutual_information(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """NMI (Hossny et al.) = 2 [MI(A,F)/(H(A)+H(F)) + MI(B,F)/(H(B)+H(F))]; higher is better.

    Hossny, Nahavandi & Creighton, "Comments on 'Information measure for performance of image
    fusion'", Electronics Letters 44(18), 2008. Range [0, 2]; F = A = B gives 2.
    """
    *inputs, fused = _levels(sources, fused)
    total = 0.0
    for source in inputs:
        information, h_source, h_fused = _mutual_information(source, fused)
        if h_source + h_fused == 0:  # both images constant: 0/0
            return require_finite(math.nan, "NMI")
        total += information / (h_source + h_fused)
    return require_finite(2.0 * total, "NMI")


def _tsallis(first: np.ndarray, second: np.ndarray, q: float) -> float:
    joint = joint_histogram(first, second)
    # tsallis.m pairs joint[i, j] (first = i, second = j) with the product of the SECOND
    # image's marginal at i and the FIRST image's at j (its sum(h) / sum(h') naming); the
    # canonical numbers depend on it, so it is kept.
    marginal_second = joint.sum(axis=0)
    marginal_first = joint.sum(axis=1)
    product = np.outer(marginal_second, marginal_first)
    valid = product != 0
    result = np.sum(joint[valid] ** q / product[valid] ** (q - 1.0))
    return float((1.0 - result) / (1.0 - q))


def tsallis_metric(sources: Sequence[np.ndarray], fused: np.ndarray, *, q: float = 1.85) -> float:
    """Q_TE (Cvejic et al.): Tsallis mutual information I_q(A,F) + I_q(B,F); higher is better.

    Cvejic, Canagarajah & Bull, "Image fusion metric based on mutual information and Tsallis
    entropy", Electronics Letters 42(11), 2006; q = 1.85. Unbounded above (F = A = B on a Lytro
    pair gives about 232).
    """
    *inputs, fused = _levels(sources, fused)
    return require_finite(sum(_tsallis(s, fused, q) for s in inputs), "Q_TE")


def tsallis_metric_nava(
    sources: Sequence[np.ndarray], fused: np.ndarray, *, q: float = 0.43137
) -> float:
    """Q_TE as Nava et al. normalise it: (I_q(A,F) + I_q(B,F)) / (H_A^q + H_B^q + I_q(A,B)).

    Nava, Cristóbal & Escalante-Ramírez, "Mutual information improves image fusion quality
    assessments", SPIE Newsroom 2007; q = 0.43137. (Z. Liu's fusionAssess.m labels this one
    "Q_TE"; the surveys use the Cvejic form `tsallis_metric`.)
    """
    first, second, fused = _levels(sources, fused)
    _, h_first, h_second = _mutual_information(first, second)
    numerator = _tsallis(first, fused, q) + _tsallis(second, fused, q)
    # metricMI.m adds I_q(A, B) in the denominator.
    denominator = h_second**q + h_first**q + _tsallis(first, second, q)
    if denominator == 0:  # both sources constant: 0/0
        return require_finite(math.nan, "Q_TE_NAVA")
    return require_finite(numerator / denominator, "Q_TE_NAVA")


def _nonlinear_correlation(first: np.ndarray, second: np.ndarray) -> float:
    # NCC.m: entropies with logarithms base 256 (b = 256 grey levels).
    information, _, _ = _mutual_information(first, second)
    return information / 8.0


def ncie(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_NCIE (Wang, Shen & Jin): nonlinear correlation information entropy; higher is better.

    Q. Wang et al., "Performance evaluation of image fusion techniques", in Image Fusion:
    Algorithms and Applications, 2008, ch. 19. Eigenvalues r of the 3 x 3 matrix of nonlinear
    correlation coefficients give 1 + Σ (r/3) log_256(r/3). Range [0, 1]; F = A = B gives
    H(A)/8 rather than 1, because NCC is normalised by log2(256) (see NOTES of the reference).
    """
    first, second, fused = _levels(sources, fused)
    ab = _nonlinear_correlation(first, second)
    af = _nonlinear_correlation(first, fused)
    bf = _nonlinear_correlation(second, fused)
    matrix = np.array([[1.0, ab, af], [ab, 1.0, bf], [af, bf, 1.0]])
    eigenvalues = np.linalg.eigvalsh(matrix)
    # 0 · log 0 = 0; MATLAB would give NaN for an exactly zero eigenvalue (F = A = B).
    eigenvalues = eigenvalues[eigenvalues > 0]
    entropy = -np.sum(eigenvalues / 3.0 * np.log2(eigenvalues / 3.0)) / np.log2(256.0)
    return require_finite(1.0 - entropy, "Q_NCIE")
