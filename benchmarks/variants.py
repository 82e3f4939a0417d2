"""A method's option variants side by side on ground truth: each variant through the benchmark
harness (`mfif.bench.runner.run_benchmark`, alignment ``auto``), the mean PSNR of each set.
What bfloat16 costs a network, or what a changed default does.

    .venv/bin/python benchmarks/variants.py --methods udpnet,ufa-fuse \
        --variants precision=float32 precision=bfloat16 --out build/variants \
        build/ufa-test/* build/synthetic-udpnet-heldout/* build/realistic/halo \
        build/realistic/noisy build/realistic/misaligned
    .venv/bin/python benchmarks/variants.py --methods udpnet \
        --variants min_region=0.002 min_region=0 SETS...

A variant is ``OPTION=VALUE[,OPTION=VALUE...]``; results are cached in ``--out`` per (method
version, scene), as ``mfif bench`` does.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

from mfif.bench.runner import run_benchmark
from mfif.cli.arguments import parse_options
from mfif.data.scenes import find_scenes
from mfif.pipeline import Pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", help="folders of scenes with a ground truth")
    parser.add_argument("--methods", default="msa-siamese,ufa-fuse,udpnet")
    parser.add_argument(
        "--variants", nargs="+", default=["precision=float32", "precision=bfloat16"]
    )
    parser.add_argument("--out", default="build/variants")
    arguments = parser.parse_args()
    scenes, skipped = find_scenes(arguments.sets)
    for sentence in skipped:
        print(sentence)
    methods = arguments.methods.split(",")
    pipelines = {
        f"{method}@{variant}": Pipeline(method, options=parse_options(variant.split(",")))
        for method in methods
        for variant in arguments.variants
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
    print("variants: " + " → ".join(arguments.variants))
    print("| set (scenes) | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for dataset in sorted({dataset for dataset, _ in values}):
        cells = []
        for method in methods:
            means = [values.get((dataset, f"{method}@{v}")) for v in arguments.variants]
            cells.append(
                " → ".join(f"{statistics.mean(m):.2f}" for m in means) if all(means) else ""
            )
        count = max(len(v) for (d, _), v in values.items() if d == dataset)
        print(f"| {dataset} ({count}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
