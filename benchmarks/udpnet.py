"""UDPNet inference speed on CPU: one 520x520 colour Lytro pair, against enfuse in the same run.

Run:  .venv/bin/python benchmarks/udpnet.py [--repeats 5] [--weights PATH]

Needs ../shared/datasets, enfuse and trained weights (shipped, or --weights). Times the shipped
`udpnet` and `udpnet-paper` with their default options, and `udpnet` at half resolution.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
from pathlib import Path

import mfif

from _common import median_seconds, real_stacks, require_enfuse, require_shared, run_enfuse

CONFIGURATIONS = [
    ("udpnet", {}),
    ("udpnet", {"scale": 0.5}),
    ("udpnet-paper", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weights", help="a checkpoint instead of the shipped weights")
    args = parser.parse_args()
    datasets = require_shared()
    require_enfuse()
    _, paths = real_stacks(datasets, "lytro")[0]
    stack = mfif.load_stack(paths)
    with tempfile.TemporaryDirectory() as folder:
        enfuse = statistics.median(
            run_enfuse(paths, Path(folder) / "out.tif") for _ in range(args.repeats)
        )
    print(f"## UDPNet inference, {paths[0].parent.name} (520x520 RGB pair), CPU\n")
    print(f"enfuse (whole process): {enfuse:.3f} s (median of {args.repeats})\n")
    print("| method | options | s/pair | ratio to enfuse |")
    print("|---|---|---|---|")
    for method, options in CONFIGURATIONS:
        if args.weights:
            options = {**options, "weights": args.weights}
        fuser = mfif.create(method, **options)
        fuser.fuse(stack)  # warm-up
        seconds = median_seconds(lambda fuser=fuser: fuser.fuse(stack), args.repeats)
        shown = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
        print(f"| {method} | {shown} | {seconds:.3f} | {seconds / enfuse:.1f} |", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nparameters of G: {fuser.parameter_count:,}; peak resident memory {peak:.0f} MB")
    print("target: <= 1 s per pair on 2 cores")


if __name__ == "__main__":
    main()
