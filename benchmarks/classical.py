"""Classical methods against enfuse: speed on Lytro and a large stack, quality on synthetic
ground-truth stacks (Middlebury 2006 depth-rendered, DAVIS 2016 object/background).

Run:  .venv/bin/python benchmarks/classical.py [--repeats 3] [--json results.json]

Prints median seconds per stack, the ratio to enfuse measured in the same run, and PSNR/SSIM on
8-bit luminance against the ground truth. Needs ../shared/datasets and enfuse.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import mfif
from mfif.metrics import psnr, ssim

from _common import (
    TemporaryStack,
    davis_mask_stacks,
    median_seconds,
    middlebury_stacks,
    real_stacks,
    require_enfuse,
    require_shared,
    run_enfuse,
)

ENFUSE = "enfuse"


def speed_on_real(datasets: Path, methods: list[str], repeats: int) -> dict[str, float]:
    """Median seconds per Lytro stack (in-process for mfif, whole process for enfuse)."""
    seconds: dict[str, list[float]] = {name: [] for name in [*methods, ENFUSE]}
    with tempfile.TemporaryDirectory() as folder:
        for _, paths in real_stacks(datasets, "lytro"):
            stack = mfif.load_stack(paths)
            for name in methods:
                fuser = mfif.create(name)
                seconds[name].append(median_seconds(lambda f=fuser, s=stack: f.fuse(s), repeats))
            seconds[ENFUSE].append(
                statistics.median(
                    run_enfuse(paths, Path(folder) / "out.tif") for _ in range(repeats)
                )
            )
    return {name: statistics.median(values) for name, values in seconds.items()}


def quality_on_synthetic(
    stacks: list[tuple[str, np.ndarray, np.ndarray]], methods: list[str]
) -> dict[str, dict]:
    """Mean PSNR / SSIM (8-bit luminance) per method on stacks with ground truth."""
    scores: dict[str, dict[str, list[float]]] = {
        name: {"psnr": [], "ssim": []} for name in ["best source", *methods, ENFUSE]
    }
    for _, sources, truth in stacks:
        results = {name: mfif.fuse(sources, method=name).image for name in methods}
        with TemporaryStack(sources) as files:
            run_enfuse(files.paths, files.output)
            results[ENFUSE] = mfif.read_image(files.output)[0]
        best = max(sources, key=lambda source: psnr(source, truth))
        results["best source"] = best
        for name, image in results.items():
            scores[name]["psnr"].append(psnr(image, truth))
            scores[name]["ssim"].append(ssim(image, truth))
    return {
        name: {metric: float(np.mean(values)) for metric, values in by_metric.items()}
        for name, by_metric in scores.items()
    }


def large_stack_whole_process(datasets: Path, repeats: int) -> dict[str, float]:
    """`mfif fuse` (default method) vs enfuse as whole processes on three 1600x1300 images."""
    _, paths = real_stacks(datasets, "lytro")[-1]  # triple-04
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        large = []
        for path in paths:
            image = cv2.imread(str(path))
            target = Path(folder) / f"{path.stem}.png"
            cv2.imwrite(str(target), cv2.resize(image, (1600, 1300), interpolation=cv2.INTER_CUBIC))
            large.append(target)
        mfif_command = [
            sys.executable,
            "-m",
            "mfif",
            "fuse",
            *map(str, large),
            "-o",
            str(Path(folder) / "mfif.png"),
        ]
        subprocess.run(mfif_command, check=True, capture_output=True)  # warm the file cache
        times["mfif fuse"] = median_seconds(
            lambda: subprocess.run(mfif_command, check=True, capture_output=True), repeats
        )
        times[ENFUSE] = statistics.median(
            run_enfuse(large, Path(folder) / "enfuse.tif") for _ in range(repeats)
        )
    return times


def imports_torch(code: str) -> bool:
    """Whether running ``code`` in a fresh interpreter leaves torch imported."""
    probe = f"import sys\n{code}\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return result.stdout.strip().endswith("True")


def fuse_command_imports_torch(datasets: Path) -> bool:
    _, paths = real_stacks(datasets, "lytro")[0]
    with tempfile.TemporaryDirectory() as folder:
        arguments = ["fuse", *map(str, paths), "-o", str(Path(folder) / "out.png")]
        return imports_torch(f"from mfif.cli import main\nmain({arguments!r})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats per stack")
    parser.add_argument(
        "--methods", default=",".join(mfif.list_methods(include_external=False, include_slow=False))
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    datasets = require_shared()
    require_enfuse()
    methods = args.methods.split(",")

    started = time.perf_counter()
    speed = speed_on_real(datasets, methods, args.repeats)
    quality = {
        "Middlebury pairs": quality_on_synthetic(middlebury_stacks(datasets, 2), methods),
        "Middlebury triples": quality_on_synthetic(middlebury_stacks(datasets, 3), methods),
        "DAVIS pairs": quality_on_synthetic(davis_mask_stacks(datasets), methods),
    }
    large = large_stack_whole_process(datasets, args.repeats)

    print("## Classical methods vs enfuse")
    print(f"default method: {mfif.DEFAULT_METHOD}\n")
    print("Speed: median seconds per Lytro stack (20 pairs + 4 triples, 520x520 RGB), mfif")
    print("in-process, enfuse as a process. Quality: PSNR (dB) / SSIM on 8-bit luminance against")
    print("the ground truth, mean over the scenes: 11 Middlebury 2006 scenes rendered with a")
    print("thin-lens disk blur focused at 2 and at 3 disparities; 10 DAVIS 2016 frames whose")
    print("object is sharp in one source and the background in the other (disk blur, radius 4).\n")
    header = " | ".join(f"{name} PSNR | SSIM" for name in quality)
    print(f"| method | s/stack | ratio to enfuse | {header} |")
    print("|---" * (3 + 2 * len(quality)) + "|")
    for name in ["best source", *methods, ENFUSE]:
        seconds = speed.get(name)
        timing = (
            f"{seconds:.4f} | {seconds / speed[ENFUSE]:.3f}" if seconds is not None else "– | –"
        )
        cells = " | ".join(
            f"{table[name]['psnr']:.2f} | {table[name]['ssim']:.4f}" for table in quality.values()
        )
        print(f"| {name} | {timing} | {cells} |")
    print(
        "\nLarge stack (three 1600x1300 RGB PNG, whole process, median of "
        f"{args.repeats}): mfif fuse {large['mfif fuse']:.2f} s, enfuse {large[ENFUSE]:.2f} s, "
        f"ratio {large['mfif fuse'] / large[ENFUSE]:.3f}"
    )
    print(f"'import mfif' imports torch: {imports_torch('import mfif')}")
    print(f"'mfif fuse' (default method) imports torch: {fuse_command_imports_torch(datasets)}")
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        numbers = {"speed": speed, "quality": quality, "large": large}
        args.json.write_text(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
