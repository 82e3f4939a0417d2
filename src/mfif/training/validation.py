"""Validation and export scores with the inference a method ships: its Fuser around the
model being trained (`NetworkFuser.from_model`), scored by `mfif.scoring` like every other
number (the ground-truth sets are registered, so the pipeline aligns nothing)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ..pipeline import Pipeline
from ..scoring import ground_truth_cases, mean_scores

__all__ = ["ground_truth_cases", "mean_psnr", "scenes_validation", "score_sets"]


def mean_psnr(fuser, cases: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean PSNR (dB, 8-bit) of ``fuser`` over ``cases``."""
    return mean_scores(Pipeline(fuser, align="none"), cases, ["PSNR"])["PSNR"]


def scenes_validation(
    method: type, cases: Sequence[tuple[np.ndarray, np.ndarray]]
) -> Callable[[object], float]:
    """``model -> mean PSNR`` of ``method`` (a NetworkFuser class) around the model."""

    def validate(model) -> float:
        return mean_psnr(method.from_model(model), cases)

    return validate


def score_sets(fuser, roots: Sequence[str | os.PathLike]) -> list[dict]:
    """PSNR and SSIM of ``fuser`` on each set of scenes with GT (one dict per root)."""
    scores = []
    for root in roots:
        cases = ground_truth_cases([root])
        means = mean_scores(Pipeline(fuser, align="none"), cases)
        metrics = {"PSNR": round(means["PSNR"], 3), "SSIM": round(means["SSIM"], 5)}
        scores.append({"set": str(root), "scenes": len(cases), "metrics": metrics})
    return scores
