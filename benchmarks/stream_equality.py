"""How far fusing from disk (`mfif.pipeline.Pipeline` with ``storage="disk"``, what
``mfif fuse`` does for large stacks) is from fusing in memory, per method, on ground-truth
stacks: the share of 8-bit samples that differ, the largest difference in 8-bit levels, and
PSNR against the truth of both (on stacks that need no alignment; aligned ones are cropped,
so only the difference is given).

    .venv/bin/python benchmarks/stream_equality.py build/ufa-test/pascal-mask \
        build/ufa-test/middlebury-depth build/synthetic-misaligned/middlebury2006-misaligned
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import mfif
from mfif.metrics import compute
from mfif.pipeline import Pipeline

METHODS = ["guided-decision", "laplacian-pyramid", "dwt", "gff", "sf", "maxgrad"]


def scenes(folder: Path) -> list[tuple[list[Path], Path]]:
    """(sources, truth) of each scene folder: images A, B, ... and GT."""
    found = []
    for scene in sorted(p for p in folder.iterdir() if p.is_dir()):
        truth = next(scene.glob("GT.*"), None)
        sources = sorted(p for p in scene.iterdir() if p.stem != "GT" and p.suffix == ".png")
        if truth is not None and len(sources) >= 2:
            found.append((sources, truth))
    return found


def levels(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.int16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--limit", type=int, default=8, help="scenes per set")
    args = parser.parse_args()
    print(
        "| set | method | scenes | samples differing | largest (8-bit levels) | PSNR memory "
        "| PSNR disk |"
    )
    print("|---|---|---|---|---|---|---|")
    for folder in args.sets:
        cases = scenes(folder)[: args.limit]
        for method in args.methods:
            pipeline = Pipeline(method, storage="memory")
            from_disk = Pipeline(method, storage="disk")
            differing, largest, psnr = [], 0, {"memory": [], "disk": []}
            for sources, truth_path in cases:
                memory = pipeline.run(sources).fusion.image
                with from_disk.run(sources) as result:
                    disk = result.fusion.image
                difference = np.abs(levels(memory) - levels(disk))
                differing.append(float(np.mean(difference > 0)))
                largest = max(largest, int(difference.max()))
                truth = mfif.read_image(truth_path)[0]
                if truth.shape[:2] == memory.shape[:2]:
                    truth = truth.reshape(memory.shape)
                    for name, image in (("memory", memory), ("disk", disk)):
                        psnr[name].append(compute(["PSNR"], image, [], truth)["PSNR"])
            scores = [f"{np.mean(psnr[n]):.2f}" if psnr[n] else "-" for n in ("memory", "disk")]
            print(
                f"| {folder.name} | {method} | {len(cases)} | {np.mean(differing):.2e} | "
                f"{largest} | {scores[0]} | {scores[1]} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
