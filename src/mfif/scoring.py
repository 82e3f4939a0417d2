"""Scoring fused stacks against their sources and ground truths: the one place the benchmark
(``mfif bench``), the export command's ``--score``, training's validation and the benchmark
scripts get their numbers from, so that the same weights get the same numbers everywhere.

Every stack goes through a `mfif.pipeline.Pipeline` (its alignment setting included), and
only the metrics the inputs allow are computed (fusion metrics need two sources, reference
metrics a ground truth).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .errors import StackError
from .pipeline import Pipeline
from .stack import Stack

__all__ = ["score_fused", "region_masks", "ground_truth_cases", "mean_scores"]


def score_fused(
    image: np.ndarray,
    sources: Sequence[np.ndarray],
    truth: np.ndarray | None,
    names: Sequence[str],
    *,
    regions: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """`mfif.metrics.compute` of the applicable metrics of ``names``, and the region metrics
    (``PSNR_band``, ``PSNR_object``) of those ``regions`` holds.

    Parameters
    ----------
    image : ndarray of shape (H, W, C), float32 in [0, 1]
        The fused image.
    sources : sequence of ndarray of shape (H, W, C)
        The sources it was fused from (aligned as fused).
    truth : ndarray of shape (H, W, C) or None
        The all-in-focus ground truth.
    names : sequence of str
        Metric names or aliases; those the inputs do not allow are left out
        (`mfif.metrics.available_metrics`).
    regions : mapping of str to ndarray of shape (H, W), bool, optional
        Region metric name -> its pixels (`region_masks` of a scene's labels).
    """
    from .metrics import METRICS, available_metrics, compute, region_psnr, resolve

    usable = available_metrics(len(sources), truth is not None, among=names)
    scores = compute(usable, image, list(sources), truth)
    for name in map(resolve, names):
        if METRICS[name].kind == "region" and regions and name in regions and truth is not None:
            scores[name] = region_psnr(image, truth, regions[name])
    return scores


def region_masks(labels: np.ndarray) -> dict[str, np.ndarray]:
    """The regions of a label image (H, W) (`mfif synth layered`: 1 halo band, 2 object) by
    the name of their metric; an empty region is left out."""
    regions = {"PSNR_band": labels == 1, "PSNR_object": labels == 2}
    return {name: mask for name, mask in regions.items() if mask.any()}


def ground_truth_cases(
    roots: Sequence[str | os.PathLike], limit: int | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(sources (K, H, W, C), truth (H, W, C)) float32 of the scenes with a GT under ``roots``;
    the sources of a scene ``mfif synth`` moved are registered by its known motion and cut to
    the truth's region.

    Raises
    ------
    StackError
        No scene there has a ground truth.
    """
    from .data.scenes import find_scenes
    from .io import load_stack, read_image

    scenes = [s for s in find_scenes(roots)[0] if s.ground_truth is not None][:limit]
    if not scenes:
        raise StackError(
            f"No scenes with a ground truth (GT image) to validate on under "
            f"{', '.join(map(str, roots))}."
        )
    cases = []
    for scene in scenes:
        images = load_stack(scene.sources).images
        if scene.misalignment is not None:  # moved by `mfif synth`: undone exactly, then cut
            images = _registered(images, scene.misalignment)
        truth = read_image(scene.ground_truth)[0]
        cases.append((images, truth if truth.ndim == 3 else truth[..., None]))
    return cases


def _registered(images: np.ndarray, record: dict) -> np.ndarray:
    """Frames (K, H, W, C) that `mfif.data.misalign.misalign` moved, moved back by the known
    transforms and cut to the region their ground truth covers."""
    from .data.misalign import known_alignment
    from .warp import apply_alignment

    alignment = known_alignment(record, images.shape[1:3], images.shape[3])
    aligned = apply_alignment(Stack(images=images), alignment, crop=False).images
    top, left, height, width = record["crop"]
    return np.ascontiguousarray(aligned[:, top : top + height, left : left + width])


def mean_scores(
    pipeline: Pipeline,
    cases: Sequence[tuple[np.ndarray, np.ndarray]],
    names: Sequence[str] = ("PSNR", "SSIM"),
    *,
    measures: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None,
) -> dict[str, float]:
    """The mean of each metric of ``names`` over ``cases`` fused by ``pipeline``.

    Parameters
    ----------
    pipeline : Pipeline
        Its alignment applies; ground-truth sets are registered, so ``align="none"`` scores the
        method alone.
    cases : sequence of (ndarray of shape (K, H, W, C), ndarray of shape (H, W, C))
        Sources and ground truth, float32 in [0, 1] (`ground_truth_cases`).
    names : sequence of str
        Metric names or aliases.
    measures : callable, optional
        More numbers of each case, ``measures(fused, truth) -> {name: value}``, averaged too.
    """
    rows = []
    for sources, truth in cases:
        with pipeline.run(Stack(images=sources)) as result:
            fused = result.fusion.image
            aligned = result.frames.materialise().images
        rows.append(score_fused(fused, list(aligned), truth, names))
        if measures is not None:
            rows[-1].update(measures(fused, truth))
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
