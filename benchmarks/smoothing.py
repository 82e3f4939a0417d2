"""Two of back-projection's enlargements (`mfif.resample.back_projected_upsample`) compared,
by ``--scale`` (2): ``--compare smoothing`` (default), without and with its total-variation
steps (README, DFP, "Smoothing the enlargement"); ``--compare learned``, from Lanczos-4 and from
the learned ×2 start (`mfif.learned_start`; README, DFP, "The learned start"). Each truth is
downsampled under each ``--degradations`` model, enlarged back by back-projection onto that
model (or onto ``--told``, what the sources are said to be made by) both ways, and scored by
PSNR against the truth. Truths (`_heldout.enlargement_truths`): the held-out scenes
of `benchmarks/upsampling.py`, the nine shared stacks each fused by the default, three
blurred-noise textures, and the first source of each scene of ``../shared/datasets/real``
(where a smoothing that flattens fine texture shows first). Reports the mean gain, the worst,
and the share of truths made worse by more than 0.05 dB.

    .venv/bin/python benchmarks/smoothing.py [--degradations lanczos2 box bicubic gaussian:1.2]
        [--scale 2] [--compare smoothing|learned] [--told MODEL]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from mfif.metrics import psnr
from mfif.resample import SMOOTHING, back_projected_upsample, downsample

from _common import require_shared
from _heldout import cut_to_multiple, enlargement_truths

# --compare: (the first way, the second way) as arguments of `back_projected_upsample`, and
# the table's names for them.
COMPARISONS = {
    "smoothing": (
        {"smoothing": 0.0},
        {"smoothing": SMOOTHING},
        "back-projection alone",
        "smoothed",
    ),
    "learned": ({"start": "lanczos"}, {"start": "learned"}, "from Lanczos-4", "learned start"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degradations", nargs="+", default=["lanczos2", "box"])
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--compare", choices=sorted(COMPARISONS), default="smoothing")
    parser.add_argument("--told", help="the model back-projection inverts (default: the true one)")
    args = parser.parse_args()
    first, second, first_name, second_name = COMPARISONS[args.compare]
    with tempfile.TemporaryDirectory() as scratch:
        found = enlargement_truths(require_shared(), Path(scratch), real_sources=True)
    sets = {
        name: [cut_to_multiple(truth, args.scale) for truth in truths]
        for name, truths in found.items()
    }
    for degradation in args.degradations:
        told = args.told or degradation
        print(f"\nx{args.scale}, made by {degradation}, told {told}: PSNR {first_name}, and what "
              f"the {second_name} gains (mean, worst, share worse by 0.05 dB)\n")  # fmt: skip
        print(f"| truth | {first_name} | {second_name}: mean | worst | worse |")
        print("|---|---|---|---|---|")
        for name, truths in sets.items():
            plain, gains = [], []
            for truth in truths:
                low = np.clip(downsample(truth, args.scale, degradation), 0, 1)
                enlarged = [back_projected_upsample(low, args.scale, degradation=told, **way)
                            for way in (first, second)]  # fmt: skip
                plain.append(psnr(enlarged[0], truth))
                gains.append(psnr(enlarged[1], truth) - plain[-1])
            gains = np.array(gains)
            print(
                f"| {name} | {np.mean(plain):.2f} | {gains.mean():+.3f} | {gains.min():+.2f} "
                f"| {np.mean(gains < -0.05):.0%} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
