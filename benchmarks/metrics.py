"""Time every no-reference metric on one 520x520 Lytro pair and its fusion.

Run:  .venv/bin/python benchmarks/metrics.py [--repeats 5]

Prints the median seconds per metric (colour input, measured on luminance, as `mfif metrics`
does) and the total, against the issue's target of 2 s. Needs ../shared/datasets.
"""

from __future__ import annotations

import argparse
import statistics
import time

import mfif
from mfif.metrics import METRICS, compute

from _common import real_stacks, require_shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    datasets = require_shared()
    _, paths = real_stacks(datasets, "lytro")[0]
    stack = mfif.load_stack(paths)
    fused = mfif.fuse(stack).image
    sources = list(stack.images)
    names = [name for name, metric in METRICS.items() if metric.kind != "reference"]
    compute(names, fused, sources)  # warm-up: imports, FFT plans
    timings = {}
    for name in names:
        runs = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            compute([name], fused, sources)
            runs.append(time.perf_counter() - started)
        timings[name] = statistics.median(runs)
    started = time.perf_counter()
    compute(names, fused, sources)
    together = time.perf_counter() - started
    print(f"## No-reference metrics on {paths[0].parent.name} (520x520 RGB, luminance)\n")
    print("| metric | seconds |")
    print("|---|---|")
    for name, seconds in sorted(timings.items(), key=lambda item: -item[1]):
        print(f"| {name} | {seconds:.4f} |")
    print(
        f"\nsum of medians {sum(timings.values()):.3f} s; all in one compute() call "
        f"{together:.3f} s (target <= 2 s)"
    )


if __name__ == "__main__":
    main()
