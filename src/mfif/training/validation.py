"""Validation and export scores with the inference a method ships: its Fuser around the
model being trained (`NetworkFuser.from_model`), fused images against ground truths."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ..data.scenes import find_scenes
from ..errors import StackError
from ..io import load_stack

__all__ = ["ground_truth_cases", "mean_psnr", "scenes_validation", "score_sets"]


def ground_truth_cases(
    roots: Sequence[str | os.PathLike], limit: int | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(sources (K, H, W, C), truth (H, W, C)) float32 of the scenes with a GT under ``roots``.

    Raises
    ------
    StackError
        No scene there has a ground truth.
    """
    scenes = [s for s in find_scenes(roots)[0] if s.ground_truth is not None][:limit]
    if not scenes:
        raise StackError(
            f"No scenes with a ground truth (GT image) to validate on under "
            f"{', '.join(map(str, roots))}."
        )
    cases = []
    for scene in scenes:
        stack = load_stack(scene.sources)
        truth = load_stack([scene.ground_truth, scene.ground_truth]).images[0]
        cases.append((stack.images, truth))
    return cases


def mean_psnr(fuser, cases: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean PSNR (dB, 8-bit) of ``fuser`` over ``cases``."""
    from ..metrics import psnr
    from ..stack import Stack

    return float(np.mean([psnr(fuser.fuse(Stack(images=s)).image, t) for s, t in cases]))


def scenes_validation(
    method: type, cases: Sequence[tuple[np.ndarray, np.ndarray]]
) -> Callable[[object], float]:
    """``model -> mean PSNR`` of ``method`` (a NetworkFuser class) around the model."""

    def validate(model) -> float:
        return mean_psnr(method.from_model(model), cases)

    return validate


def score_sets(fuser, roots: Sequence[str | os.PathLike]) -> list[dict]:
    """PSNR and SSIM of ``fuser`` on each set of scenes with GT (one dict per root)."""
    from ..metrics import psnr, ssim
    from ..stack import Stack

    scores = []
    for root in roots:
        cases = ground_truth_cases([root])
        fused = [fuser.fuse(Stack(images=s)).image for s, _ in cases]
        scores.append(
            {
                "set": str(root),
                "scenes": len(cases),
                "metrics": {
                    "PSNR": round(
                        float(
                            np.mean([psnr(f, t) for f, (_, t) in zip(fused, cases, strict=True)])
                        ),
                        3,
                    ),
                    "SSIM": round(
                        float(
                            np.mean([ssim(f, t) for f, (_, t) in zip(fused, cases, strict=True)])
                        ),
                        5,
                    ),
                },
            }
        )
    return scores
