"""What bfloat16 costs a network in quality: each method in float32 and in bfloat16 through the
benchmark harness (`mfif.bench.runner.run_benchmark`, alignment ``auto``), the mean PSNR of each
set, side by side.

    .venv/bin/python benchmarks/precision.py --methods udpnet,ufa-fuse --out build/precision \
        build/ufa-test/* build/synthetic-udpnet-heldout/* build/realistic/halo \
        build/realistic/noisy build/realistic/misaligned

Results are cached in ``--out`` per (method version, scene), as ``mfif bench`` does.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

from mfif.bench.runner import run_benchmark
from mfif.data.scenes import find_scenes
from mfif.pipeline import Pipeline

PRECISIONS = ("float32", "bfloat16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", help="folders of scenes with a ground truth")
    parser.add_argument("--methods", default="msa-siamese,ufa-fuse,udpnet")
    parser.add_argument("--out", default="build/precision")
    arguments = parser.parse_args()
    scenes, skipped = find_scenes(arguments.sets)
    for sentence in skipped:
        print(sentence)
    methods = arguments.methods.split(",")
    pipelines = {
        f"{method}@{precision}": Pipeline(method, options={"precision": precision})
        for method in methods
        for precision in PRECISIONS
    }
    records, notes = run_benchmark(
        scenes, pipelines, arguments.out, metrics=["PSNR"], progress=False, best_source=False
    )
    for sentence in notes:
        print(sentence)
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for record in records:
        if record.status == "ok" and record.metrics.get("PSNR") is not None:
            values[record.dataset, record.method].append(record.metrics["PSNR"])
    datasets = sorted({dataset for dataset, _ in values})
    print("| set (scenes) | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for dataset in datasets:
        cells = []
        for method in methods:
            means = [values.get((dataset, f"{method}@{p}")) for p in PRECISIONS]
            if not all(means):
                cells.append("")
                continue
            cells.append(" → ".join(f"{statistics.mean(m):.2f}" for m in means))
        count = max(len(v) for (d, _), v in values.items() if d == dataset)
        print(f"| {dataset} ({count}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
