"""How much of ×2 is enlargement alone, and what the degradation model is worth: the ground
truth of held-out scenes, downsampled by s under each ``--degradations`` model and enlarged back
by bicubic, Lanczos-4, back-projection onto the paper's Lanczos-2 and back-projection onto the
model the image was really made by (`mfif.resample`), PSNR against the truth. No fusion is
involved: this is the ceiling a fusion's enlargement reaches when its low-resolution image is
perfect.

    .venv/bin/python benchmarks/upsampling.py --sets pascal-mask davis-mask --limit 6
    .venv/bin/python benchmarks/upsampling.py --sets pascal-mask davis-mask middlebury-depth \
        --skip 4 --limit 6 --degradations lanczos2 bicubic box gaussian:1.2 gaussian:1.8 \
        --steps 3
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from mfif.metrics import psnr
from mfif.resample import back_projected_upsample, check_degradation, downsample

from _common import require_shared
from _heldout import make_sets


def columns(scale: int, degradation: str, steps: list[int]) -> dict:
    """Each enlargement by name: (low image, full size) -> enlarged image."""
    found = {
        "bicubic": lambda low, size: cv2.resize(low, size, interpolation=cv2.INTER_CUBIC),
        "Lanczos-4": lambda low, size: cv2.resize(low, size, interpolation=cv2.INTER_LANCZOS4),
    }
    models = ["lanczos2"] + ([degradation] if degradation != "lanczos2" else [])
    for model in models:
        for n in steps:
            found[f"back-projection onto {model}, {n} steps"] = _back_projection(scale, n, model)
    return found


def _back_projection(scale: int, steps: int, model: str):
    def enlarge(low: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return back_projected_upsample(low, scale, iterations=steps, degradation=model)

    return enlarge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["pascal-mask", "davis-mask"])
    parser.add_argument("--limit", type=int, default=6, help="scenes per set")
    parser.add_argument("--skip", type=int, default=0, help="scenes skipped first per set")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--degradations", nargs="+", type=check_degradation, default=["lanczos2"])
    parser.add_argument("--steps", nargs="+", type=int, default=[1, 2, 3, 5])
    args = parser.parse_args()
    sets = make_sets(require_shared())
    truths = []
    for set_name in args.sets:
        for _, truth in sets[set_name][args.skip : args.skip + args.limit]:
            height, width = (side - side % args.scale for side in truth.shape[:2])
            truths.append(np.ascontiguousarray(truth[:height, :width], dtype=np.float32))
    print(f"×{args.scale}, {len(truths)} scenes ({', '.join(args.sets)}), PSNR against the truth")
    for degradation in args.degradations:
        print(f"\nmade by {degradation}\n\n| enlargement | PSNR |\n|---|---|")
        for name, enlarge in columns(args.scale, degradation, args.steps).items():
            scores = []
            for truth in truths:
                low = np.clip(downsample(truth, args.scale, degradation), 0, 1)
                size = (truth.shape[1], truth.shape[0])
                scores.append(psnr(np.clip(enlarge(low, size), 0, 1), truth))
            print(f"| {name} | {np.mean(scores):.2f} |", flush=True)


if __name__ == "__main__":
    main()
