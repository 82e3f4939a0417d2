"""Crops at 100 % of every real stack fused without and with alignment, for looking at.

For each stack in ../shared/datasets/stacks, the default method fuses the frames with
``--align none`` and with the default alignment (both without cropping, so one crop box shows
the same place in both), and three 160x160 crops are cut where misalignment shows first: the
top-left corner, the centre and the bottom-right corner. Rows: without, with alignment. Sheets
go to build/alignment-crops/; the centre and corner crops of petteri__pcb also go to
benchmarks/results/alignment-before-after.png for the README.

    .venv/bin/python benchmarks/alignment_crops.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import mfif
from mfif.pipeline import Pipeline

from _common import require_shared

ROOT = Path(__file__).resolve().parents[1]
SIZE = 160
GAP = 4


def sheet(images: list[np.ndarray]) -> np.ndarray:
    height, width = images[0].shape[:2]
    margin = 24  # skip the borders that no frame covers
    boxes = [
        (margin, margin),
        (height // 2 - SIZE // 2, width // 2 - SIZE // 2),
        (height - SIZE - margin, width - SIZE - margin),
    ]
    rows = []
    for image in images:
        crops = [image[top : top + SIZE, left : left + SIZE] for top, left in boxes]
        row = crops[0]
        for crop in crops[1:]:
            row = np.hstack([row, np.ones((SIZE, GAP, 3), np.float32), crop])
        rows.append(row)
    return np.vstack([rows[0], np.ones((GAP, rows[0].shape[1], 3), np.float32), rows[1]])


def main() -> None:
    stacks = require_shared() / "stacks"
    out = ROOT / "build" / "alignment-crops"
    out.mkdir(parents=True, exist_ok=True)
    without = Pipeline(align="none")
    with_alignment = Pipeline(crop=False)
    for folder in sorted(p for p in stacks.iterdir() if p.is_dir()):
        frames = sorted(p for p in folder.iterdir() if not p.name.startswith("reference"))
        stack = mfif.load_stack(frames)
        if not stack.is_color:
            stack = mfif.Stack(np.repeat(stack.images, 3, axis=3), stack.bit_depth, stack.names)
        fused = [p.run(stack).fusion.image for p in (without, with_alignment)]
        picture = sheet(fused)
        mfif.save_image(out / f"{folder.name}.png", picture)
        print(f"{folder.name}: {out / f'{folder.name}.png'}")
        if folder.name == "petteri__pcb":  # centre and corner crops at 100 %, for the README
            target = ROOT / "benchmarks" / "results" / "alignment-before-after.png"
            mfif.save_image(target, picture[:, SIZE + GAP :])
            print(f"README figure: {target}")


if __name__ == "__main__":
    main()
