"""How much of ×2 is enlargement alone: the ground truth of held-out scenes, Lanczos-2-downsampled
by s and enlarged back by bicubic, Lanczos-4 and back-projection (`mfif.resample`), PSNR
against the truth. No fusion is involved: this is the ceiling a fusion's enlargement reaches
when its low-resolution image is perfect.

    .venv/bin/python benchmarks/upsampling.py --sets pascal-mask davis-mask --limit 6
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from mfif.metrics import psnr
from mfif.resample import back_projected_upsample, lanczos2_downsample

from _common import require_shared
from _heldout import make_sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["pascal-mask", "davis-mask"])
    parser.add_argument("--limit", type=int, default=6, help="scenes per set")
    parser.add_argument("--scale", type=int, default=2)
    args = parser.parse_args()
    sets = make_sets(require_shared())
    columns = {
        "bicubic": lambda low, size: cv2.resize(low, size, interpolation=cv2.INTER_CUBIC),
        "Lanczos-4": lambda low, size: cv2.resize(low, size, interpolation=cv2.INTER_LANCZOS4),
        **{
            f"back-projection, {n} steps": (
                lambda low, size, n=n: back_projected_upsample(low, args.scale, iterations=n)
            )
            for n in (1, 2, 3, 5)
        },
    }
    scores: dict[str, list[float]] = {name: [] for name in columns}
    for set_name in args.sets:
        for _, truth in sets[set_name][: args.limit]:
            height, width = (side - side % args.scale for side in truth.shape[:2])
            truth = np.ascontiguousarray(truth[:height, :width], dtype=np.float32)
            low = np.clip(lanczos2_downsample(truth, args.scale), 0, 1)
            for name, enlarge in columns.items():
                enlarged = np.clip(enlarge(low, (width, height)), 0, 1)
                scores[name].append(psnr(enlarged, truth))
    count = len(next(iter(scores.values())))
    print(f"×{args.scale}, {count} scenes ({', '.join(args.sets)}), PSNR against the truth\n")
    print("| enlargement | PSNR |\n|---|---|")
    for name, values in scores.items():
        print(f"| {name} | {np.mean(values):.2f} |")


if __name__ == "__main__":
    main()
