"""UDPNet and its ablations on a held-out synthetic ground-truth set (UDPNet Tables IV/V).

Build the set and train the variants (each 1000 steps, seed 0, same data) first:

    D=../shared/datasets/natural/davis2016; R=../shared/datasets/real; A=build/ablations
    mfif synth mask "$D/images/*_00020.jpg" $D/masks build/synthetic-udpnet-test/davis2016-f20 \\
        --seed 7
    mfif train udpnet --data $R --checkpoint $A/full.ckpt --steps 1000
    mfif train udpnet --data $R --checkpoint $A/no-blind-spot.ckpt --steps 1000 --no-blind-spot
    mfif train udpnet --data $R --checkpoint $A/no-fuser.ckpt --steps 1000 --no-fuser

Run:  .venv/bin/python benchmarks/udpnet_ablations.py [--test DIR] [--variant LABEL=CHECKPOINT ...]

Prints mean PSNR / SSIM / Q_G / NMI of each variant, the shipped weights, the initial masks
(eq. (3), i.e. the maxgrad method) and the best classical method.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import mfif
from mfif.bench import find_scenes
from mfif.metrics import compute

METRICS = ["PSNR", "SSIM", "Q_G", "NMI"]
DEFAULT_VARIANTS = [
    "UDPNet (1000 steps)=build/ablations/full.ckpt",
    "w/o BS (1000 steps)=build/ablations/no-blind-spot.ckpt",
    "w/o G (1000 steps)=build/ablations/no-fuser.ckpt",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", default="build/synthetic-udpnet-test/davis2016-f20")
    parser.add_argument("--variant", action="append", help="LABEL=CHECKPOINT (repeatable)")
    args = parser.parse_args()
    scenes = find_scenes([args.test])[0]
    cases = [(mfif.load_stack(s.sources), mfif.read_image(s.ground_truth)[0]) for s in scenes]
    fusers = {"UDPNet (shipped weights)": mfif.create("udpnet")}
    for spec in args.variant or DEFAULT_VARIANTS:
        label, _, checkpoint = spec.partition("=")
        if Path(checkpoint).exists():
            fusers[label] = mfif.create("udpnet", weights=checkpoint)
        else:
            print(f"(missing {checkpoint}; train it first)")
    fusers["initial masks, eq. (3) (maxgrad)"] = mfif.create("maxgrad")
    fusers["guided-decision (best classical)"] = mfif.create("guided-decision")
    print(f"## UDPNet ablations on {args.test} ({len(cases)} scenes, 8-bit luminance)\n")
    print("| variant | " + " | ".join(METRICS) + " |")
    print("|---" * (len(METRICS) + 1) + "|")
    for label, fuser in fusers.items():
        scores = [
            compute(METRICS, fuser.fuse(stack).image, list(stack.images), truth)
            for stack, truth in cases
        ]
        means = [np.mean([s[m] for s in scores]) for m in METRICS]
        print(
            f"| {label} | "
            + " | ".join(f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}" for v in means)
            + " |"
        )


if __name__ == "__main__":
    main()
