"""UDPNet, its ablations (UDPNet Tables IV/V) and mfif's changes, on synthetic ground truth.

Sets (build them once; `build/` is not committed):

    D=../shared/datasets/natural/davis2016
    # held out: used for these scores and nothing else (no training, no choices)
    mfif synth mask "$D/images/*_00012.jpg" $D/masks build/synthetic-udpnet-heldout/davis2016-f12 \\
        --seed 13
    # development: the set the inference choices (decision="hard", min_region) were made on
    mfif synth mask "$D/images/*_00020.jpg" $D/masks build/synthetic-udpnet-test/davis2016-f20 \\
        --seed 7

Ablation checkpoints (each 1000 steps, seed 0, same data, eq. (3) gradient masks):

    R=../shared/datasets/real; A=build/ablations
    mfif train udpnet --data $R --recipe paper --checkpoint $A/full.ckpt --steps 1000
    mfif train udpnet --data $R --recipe paper --checkpoint $A/no-blind-spot.ckpt --steps 1000 \
        --no-blind-spot
    mfif train udpnet --data $R --recipe paper --checkpoint $A/no-fuser.ckpt --steps 1000 \
        --no-use-fuser

Run:  .venv/bin/python benchmarks/udpnet_ablations.py [--test DIR ...] [--variant LABEL=CKPT ...]

Prints, per set, mean PSNR / SSIM / Q_G / NMI of: the shipped `udpnet` and `udpnet-paper`
with both inference decisions, the ablations, both kinds of initial masks alone, and the best
classical method.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import mfif
from mfif.bench import find_scenes
from mfif.fusion import WeightedFuser
from mfif.pipeline import Pipeline
from mfif.scoring import ground_truth_cases, mean_scores

METRICS = ["PSNR", "SSIM", "Q_G", "NMI"]
DEFAULT_TESTS = [
    "build/synthetic-udpnet-heldout/davis2016-f12",
    "build/synthetic-udpnet-test/davis2016-f20",
]
DEFAULT_VARIANTS = [
    "paper recipe, 1000 steps=build/ablations/full.ckpt",
    "w/o BS, 1000 steps=build/ablations/no-blind-spot.ckpt",
    "w/o G, 1000 steps=build/ablations/no-fuser.ckpt",
]


class InitialMasksFuser(WeightedFuser):
    """Fusion by UDPNet's initial masks alone (eq. (3), or mfif's Laplacian variant)."""

    name = "initial-masks"

    def __init__(self, operator: str) -> None:
        self.operator = operator

    def weights(self, luma: np.ndarray) -> np.ndarray:
        import torch

        from mfif.models.udpnet import initial_masks

        return initial_masks(torch.from_numpy(luma)[None], self.operator)[0].numpy()


def fusers(variants: list[str]) -> dict[str, WeightedFuser]:
    table = {
        "udpnet (shipped: Laplacian masks, hard decision)": mfif.create("udpnet"),
        "udpnet, soft decision (eq. (1))": mfif.create("udpnet", decision="soft"),
        "udpnet-paper (shipped: eq. (3) masks, soft eq. (1))": mfif.create("udpnet-paper"),
        "udpnet-paper, hard decision": mfif.create("udpnet-paper", decision="hard"),
    }
    for spec in variants:
        label, _, checkpoint = spec.partition("=")
        if Path(checkpoint).exists():
            table[label + ", soft"] = mfif.create("udpnet", weights=checkpoint, decision="soft")
        else:
            print(f"(missing {checkpoint}; train it first)")
    table["initial masks, eq. (3) gradient (= maxgrad)"] = InitialMasksFuser("gradient")
    table["initial masks, Laplacian"] = InitialMasksFuser("laplacian")
    table["guided-decision (best classical)"] = mfif.create("guided-decision")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", action="append", help="a set with GT (repeatable)")
    parser.add_argument("--variant", action="append", help="LABEL=CHECKPOINT (repeatable)")
    args = parser.parse_args()
    table = fusers(args.variant or DEFAULT_VARIANTS)
    for test in args.test or DEFAULT_TESTS:
        scenes = find_scenes([test])[0]
        if not scenes:
            print(f"(no scenes under {test}; build it first, see the docstring)")
            continue
        cases = ground_truth_cases([test])
        print(f"\n## {test} ({len(cases)} scenes, 8-bit luminance)\n")
        print("| variant | " + " | ".join(METRICS) + " |")
        print("|---" * (len(METRICS) + 1) + "|")
        for label, fuser in table.items():
            scores = mean_scores(Pipeline(fuser, align="none"), cases, METRICS)
            means = [scores[m] for m in METRICS]
            cells = [f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}" for v in means]
            print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
