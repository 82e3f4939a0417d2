"""Crops at 100 % of a network method next to guided-decision and the ground truth, for
looking at.

A regression network can shift colour or soften where a decision-map method copies pixels; a
decision network can cut a seam through a blurred transition. For each held-out ground-truth
scene of build/ufa-test/middlebury-depth and davis-mask (written by benchmarks/ufa_fuse.py or
benchmarks/msa_siamese.py) and for two real Lytro pairs, three 128x128 crops are cut where that
shows first: the strongest depth edge (largest |source 1 - source 2| after smoothing), the
flattest area and the top-left corner. Rows: ground truth (if any), the method,
guided-decision, and |method - truth| x 8. Sheets go to build/METHOD-crops/.

    .venv/bin/python benchmarks/network_crops.py [--method ufa-fuse] [--weights PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

import mfif
from mfif.data.scenes import find_scenes
from mfif.scoring import ground_truth_cases
from mfif.stack import Stack

from _common import real_stacks, require_shared

SIZE = 128
GAP = 4


def crop_boxes(sources: np.ndarray) -> list[tuple[int, int]]:
    """Top-left corners of the depth-edge, flat and corner crops."""
    height, width = sources.shape[1:3]
    grey = sources.mean(axis=-1)
    difference = cv2.GaussianBlur(np.abs(grey[0] - grey[1]), (0, 0), 4)
    texture = cv2.GaussianBlur(np.abs(cv2.Laplacian(grey[0], cv2.CV_32F)), (0, 0), 16)
    inner = np.s_[SIZE // 2 : height - SIZE // 2, SIZE // 2 : width - SIZE // 2]
    boxes = []
    for score in (difference, -texture):
        row, column = np.unravel_index(np.argmax(score[inner]), score[inner].shape)
        boxes.append((int(row), int(column)))
    boxes.append((0, 0))
    return boxes


def sheet(rows: list[list[np.ndarray]]) -> np.ndarray:
    height = len(rows) * (SIZE + GAP) - GAP
    width = len(rows[0]) * (SIZE + GAP) - GAP
    canvas = np.ones((height, width, 3), np.float32)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            y, x = r * (SIZE + GAP), c * (SIZE + GAP)
            canvas[y : y + SIZE, x : x + SIZE] = image
    return canvas


def crops_of(
    name: str, sources: np.ndarray, truth: np.ndarray | None, fusers: dict, out: Path
) -> None:
    """Write the sheet of ``name``: the first fuser is the one whose error is shown."""
    stack = Stack(images=sources)
    fused = {label: fuser.fuse(stack).image for label, fuser in fusers.items()}
    images = ([truth] if truth is not None else []) + list(fused.values())
    if truth is not None:
        images.append(np.clip(np.abs(next(iter(fused.values())) - truth) * 8, 0, 1))
    rows = [[image[y : y + SIZE, x : x + SIZE] for y, x in crop_boxes(sources)] for image in images]
    out.mkdir(parents=True, exist_ok=True)
    picture = (sheet(rows) * 255).round().astype(np.uint8)
    cv2.imwrite(str(out / f"{name}.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="ufa-fuse", help="a network method")
    parser.add_argument("--weights", help="its weights instead of the shipped ones")
    args = parser.parse_args()
    datasets = require_shared()
    options = {"weights": args.weights} if args.weights else {}
    fusers = {
        args.method: mfif.create(args.method, **options),
        "guided-decision": mfif.create("guided-decision"),
    }
    out = Path("build") / f"{args.method}-crops"
    for folder in ("middlebury-depth", "davis-mask"):
        scenes = [s for s in find_scenes([Path("build/ufa-test") / folder])[0] if s.ground_truth]
        for scene, (sources, truth) in zip(
            scenes, ground_truth_cases([Path("build/ufa-test") / folder]), strict=True
        ):
            crops_of(f"{folder}-{scene.name}", sources, truth, fusers, out)
    for name, paths in real_stacks(datasets, "lytro")[:2]:
        crops_of(name, mfif.load_stack(paths).images, None, fusers, out)
    print(f"sheets in {out}/")


if __name__ == "__main__":
    main()
