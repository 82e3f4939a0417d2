"""A no-reference check of real stacks (no ground truth): where does a result keep less detail
than the sharpest frame has, and does alignment make the reference frame win?

For each stack of ``../shared/datasets/stacks`` (files named ``reference*`` are another tool's
result, not frames):

- **weak blocks**: the share of textured 32 x 32 blocks where a result keeps less than half the
  detail of the sharpest aligned frame there. Detail is the block mean of the squared band-pass
  of the luminance (the re-blur detail of `mfif.focus.reblur_detail`, σ 1.5); a block is
  textured when its sharpest frame's detail is above the 75th percentile of the per-block
  maximum over the stack, at least (2 levels)². Results: mfif's default (aligned) and enfuse
  on mfif's aligned frames, so that the fusions are compared in the same coordinates.
  (focus-stack aligns by itself, to other borders; its result does not yet register onto
  mfif's reliably enough to compare blocks, so it is left out.)
- **mottled blocks**: the share of blocks (any) where a result has more than 3 times the
  detail of the sharpest aligned frame there, and at least (2 levels)²: detail no frame has,
  made by the fusion (seams between frames of different brightness, patches, rims). On
  ``petteri__pcb`` they are the barcode's stripes, filled from blurred frames in patches.
- **reference share**: the share of mfif's depth map that the reference (middle) frame takes,
  with the default alignment and with ``--align none`` (``--method`` checks another method
  than the default: every number and crop is then that method's).
- **crops**: for each stack, the three weakest blocks of mfif's result at 100 %: the sharpest
  aligned frame there, mfif and enfuse side by side, ``build/real-stacks/<stack>.png``, and
  its three most mottled blocks the same way, ``<stack>-mottled.png``. Look at them.

``--frames N`` checks N frames of each stack instead, evenly spaced from the first to the last
(3: the first, the middle and the last): small stacks with frames far out of focus, where the
repair of patchy decisions does not run (it needs 4 frames) and blurred frames drew blotches.

    .venv/bin/python benchmarks/real_stacks.py [--stacks NAME ...] [--method NAME] [--option K=V]
        [--frames N]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import mfif
from mfif.cli.arguments import parse_options
from mfif.color import luminance
from mfif.focus import reblur_detail
from mfif.pipeline import Pipeline

from _common import ENFUSE_FLAGS, require_enfuse, require_shared

BLOCK = 32
WEAK = 0.5  # a result keeping less than this share of the sharpest frame's detail
MOTTLED = 3.0  # a result with more than this many times the sharpest frame's detail


def frames_of(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff")
        and not p.stem.lower().startswith("reference")
    )


def block_detail(image: np.ndarray) -> np.ndarray:
    """Mean squared band-pass detail of the luminance per block, in 8-bit levels²."""
    luma = luminance(image if image.ndim == 3 else image[..., None])
    detail = reblur_detail(luma[None], sigma=1.5)[0] * 255.0**2
    rows, cols = detail.shape[0] // BLOCK, detail.shape[1] // BLOCK
    cut = detail[: rows * BLOCK, : cols * BLOCK]
    return cut.reshape(rows, BLOCK, cols, BLOCK).mean(axis=(1, 3))


def weak_share(result: np.ndarray, best: np.ndarray, textured: np.ndarray) -> tuple[float, list]:
    """Share of textured blocks where ``result`` keeps less than `WEAK` of ``best``, and the
    blocks (row, col) in order of the least kept."""
    kept = block_detail(result) / np.maximum(best, 1e-9)
    weak = textured & (kept < WEAK)
    order = np.argsort(np.where(textured, kept, np.inf), axis=None)
    worst = [np.unravel_index(i, kept.shape) for i in order[:3] if textured.flat[i]]
    return float(weak.sum() / max(textured.sum(), 1)), worst


def mottled_share(result: np.ndarray, best: np.ndarray) -> tuple[float, list]:
    """Share of blocks where ``result`` has more than `MOTTLED` times the detail of ``best``
    (and at least 4 levels²), and the three blocks (row, col) of the most detail in excess."""
    detail = block_detail(result)
    excess = np.where(detail > 4.0, detail / np.maximum(best, 1e-9), 0.0)
    order = np.argsort(excess, axis=None)[::-1][:3]
    worst = [np.unravel_index(i, excess.shape) for i in order if excess.flat[i] > MOTTLED]
    return float(np.mean(excess > MOTTLED)), worst


def peers(aligned: np.ndarray, folder: Path) -> dict[str, np.ndarray]:
    """enfuse on mfif's aligned frames: the fusions compared in the same coordinates."""
    results = {}
    inputs = [mfif.save_image(folder / f"aligned-{k:02d}.tif", f, bit_depth=16)
              for k, f in enumerate(aligned)]  # fmt: skip
    subprocess.run(
        [require_enfuse(), *ENFUSE_FLAGS, f"--output={folder}/enfuse.tif", *map(str, inputs)],
        check=True, capture_output=True,
    )  # fmt: skip
    results["enfuse"] = mfif.read_image(folder / "enfuse.tif")[0]
    return results


def crops(images: dict[str, np.ndarray], sharpest, worst: list, path: Path) -> None:
    """The blocks ``worst`` at 100 %, 128 px around each, one row per block: the sharpest
    aligned frame there (``sharpest(row, col)``), then each image."""
    rows = []
    for row, col in worst:
        centre = (row * BLOCK + BLOCK // 2, col * BLOCK + BLOCK // 2)
        cells = []
        for image in [sharpest(row, col), *images.values()]:
            grey = image if image.ndim == 3 else image[..., None]
            top = int(np.clip(centre[0] - 64, 0, grey.shape[0] - 128))
            left = int(np.clip(centre[1] - 64, 0, grey.shape[1] - 128))
            cell = grey[top : top + 128, left : left + 128]
            cells.append(np.pad(cell, ((2, 2), (2, 2), (0, 0)), constant_values=1.0))
        rows.append(np.concatenate(cells, axis=1))
    if rows:
        path.parent.mkdir(parents=True, exist_ok=True)
        mfif.save_image(path, np.concatenate(rows, axis=0))


def reference_share(result, reference: int) -> float:
    """The reference frame's share of the depth map (NaN for a method without weights)."""
    return float("nan") if result.depth is None else float(np.mean(result.depth == reference))


def spaced(frames: list[Path], count: int | None) -> list[Path]:
    """``count`` of ``frames``, evenly spaced from the first to the last (all for None)."""
    if count is None or count >= len(frames):
        return frames
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in picks]


def check(
    folder: Path, out: Path, method: str = "guided-decision", options=None, count=None
) -> dict:
    frames = spaced(frames_of(folder), count)
    with Pipeline(method, options=options).run(frames, maps=True) as result:
        fused = result.fusion.image
        aligned = result.frames.materialise().images
        reference = result.alignment.reference if result.alignment else len(frames) // 2
        share_aligned = reference_share(result, reference)
    with Pipeline(method, options=options, align="none").run(frames, maps=True) as unaligned:
        share_unaligned = reference_share(unaligned, len(frames) // 2)
    details = np.stack([block_detail(frame) for frame in aligned])
    best = details.max(axis=0)
    textured = best > max(np.percentile(best, 75), 4.0)
    row = {"frames": len(frames), "size": f"{fused.shape[1]}x{fused.shape[0]}",
           "reference share": (share_aligned, share_unaligned)}  # fmt: skip
    images = {"mfif": fused}  # the method checked
    with tempfile.TemporaryDirectory() as scratch:
        others = peers(aligned, Path(scratch))
    images.update(others)
    weak, worst, mottled, most_mottled = {}, {}, {}, {}
    for name, image in images.items():
        weak[name], worst[name] = weak_share(image, best, textured)
        mottled[name], most_mottled[name] = mottled_share(image, best)
    row["weak"], row["mottled"] = weak, mottled
    sharpest = details.argmax(axis=0)
    frame_at = lambda r, c: aligned[int(sharpest[r, c])]  # noqa: E731
    crops(images, frame_at, worst["mfif"], out / f"{folder.name}.png")
    crops(images, frame_at, most_mottled["mfif"], out / f"{folder.name}-mottled.png")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", nargs="*", help="stack folder names (default: all)")
    parser.add_argument("--out", type=Path, help="crops (default build/real-stacks[-N])")
    parser.add_argument("--method", default="guided-decision", help="the method checked")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an option of that method (repeatable)",
    )
    parser.add_argument("--frames", type=int, help="N frames of each stack, evenly spaced")
    args = parser.parse_args()
    if args.frames is not None and args.frames < 2:
        parser.error("--frames needs at least 2.")
    suffix = "" if args.frames is None else f"-{args.frames}"
    args.out = args.out or Path(f"build/real-stacks{suffix}")
    root = require_shared() / "stacks"
    folders = [f for f in sorted(root.iterdir()) if f.is_dir()]
    if args.stacks:
        folders = [f for f in folders if f.name in args.stacks]
    print("| stack | frames | size | reference share, aligned / not | weak blocks: mfif | "
          "enfuse | mottled blocks: mfif | enfuse |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for folder in folders:
        row = check(folder, args.out, args.method, parse_options(args.option), args.frames)
        weak = row["weak"]
        cells = [f"{weak[n]:.1%}" for n in ("mfif", "enfuse")]
        cells += [f"{row['mottled'][n]:.1%}" for n in ("mfif", "enfuse")]
        print(
            f"| {folder.name} | {row['frames']} | {row['size']} | "
            f"{row['reference share'][0]:.2f} / {row['reference share'][1]:.2f} | "
            + " | ".join(cells)
            + " |",
            flush=True,
        )
    print(f"\ncrops of the weakest blocks: {args.out}/<stack>.png (sharpest frame, mfif, enfuse)")


if __name__ == "__main__":
    main()
