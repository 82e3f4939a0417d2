"""Halos: an object in front of a background that no frame focuses (`mfif synth layered`).

Builds two sets if they are missing (`SETS`; the commands are printed; camera noise σ 3
levels at mid-grey): **halo-davis**, frames 40 and 60 of each DAVIS 2016 sequence whose object
covers enough of the image (16 scenes, 3 frames, disk blur up to 8 px), and **halo-strong**,
frame 20 (10 scenes, 4 frames, blur up to 16 px, a darker background, more highlights). Fuses
every scene with the default pipeline (without crop, so that a stack `auto` moves is scored on
the same pixels), the same without alignment, enfuse and focus-stack when installed
(focus-stack keeping the frame size), and reports PSNR (8-bit luminance) over the whole image,
the halo band (the background within the object's largest blur) and the object, beside the
best single frame and the per-pixel oracle. Writes 100 % crops of the band where the default
errs most (truth, mfif, enfuse, and the frame that focuses the object) to
``build/halo/<set>/<scene>.png``. Look at them.

    .venv/bin/python benchmarks/halo.py [--sets halo-davis halo-strong] [--limit N] \
        [--methods ufa-fuse msa-siamese:precision=float32 ...]

``--methods`` adds other methods (``NAME`` or ``NAME:OPTION=VALUE,...``), each through the
default pipeline without crop.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

import mfif
from mfif.cli.arguments import parse_options
from mfif.color import luminance as luma
from mfif.data.scenes import find_scenes
from mfif.metrics import psnr, region_psnr
from mfif.pipeline import Pipeline

from _common import peer_fusion, require_shared, worst_crop

ROOT = Path(__file__).resolve().parents[1]
CROP = 96


def score(fused: np.ndarray, truth: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR on 8-bit luminance, over ``region`` when given (`mfif.metrics`)."""
    return psnr(fused, truth) if region is None else region_psnr(fused, truth, region)


SETS = {
    # frames 40 and 60 of each DAVIS sequence, 3 frames, blur up to 8 px
    "halo-davis": ["*_000[46]0.jpg", "--planes", "3", "--max-blur", "8", "--seed", "1"],
    # frame 20, 4 frames, blur up to 16 px, a darker background and more highlights: where
    # registration under defocus reports motions of 1-2 px that did not happen
    "halo-strong": [
        "*_00020.jpg", "--planes", "4", "--max-blur", "16", "--highlights", "6",
        "--background-gain", "0.3", "--seed", "3",
    ],
}  # fmt: skip


def make_set(natural: Path, name: str) -> Path:
    folder = ROOT / "build" / "realistic" / name
    if (folder / "synth.json").exists():
        return folder
    pattern, *options = SETS[name]
    command = [
        str(ROOT / ".venv/bin/mfif"), "synth", "layered",
        str(natural / "davis2016" / "images" / pattern), str(natural / "davis2016" / "masks"),
        str(folder), *options, "--noise", "3",
    ]  # fmt: skip
    print(" ".join(command))
    subprocess.run(command, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=list(SETS))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--methods", nargs="*", default=[], help="NAME or NAME:OPTION=VALUE,...")
    args = parser.parse_args()
    others = {}
    for text in args.methods:
        name, _, options = text.partition(":")
        others[text] = Pipeline(name, options=parse_options(options.split(",") if options else []),
                                crop=False)  # fmt: skip
    for name in args.sets:
        report(make_set(require_shared() / "natural", name), args.limit, others)


def report(folder: Path, limit: int | None, others: dict[str, Pipeline] | None = None) -> None:
    out = ROOT / "build" / "halo" / folder.name
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for scene in find_scenes([folder])[0][:limit]:
        truth = mfif.read_image(scene.ground_truth)[0]
        labels = mfif.read_image(scene.labels)[0]
        labels = np.rint((labels if labels.ndim == 2 else labels[..., 0]) * 255).astype(np.uint8)
        regions = (None, labels == 1, labels == 2)
        frames = mfif.load_stack(scene.sources).images
        results = {}
        # Without crop, so that a stack `auto` moves is scored on the same pixels.
        pipelines = {"mfif (default)": Pipeline(crop=False),
                     "mfif --align none": Pipeline(align="none"), **(others or {})}  # fmt: skip
        for label, pipeline in pipelines.items():
            with pipeline.run(scene.sources) as result:
                results[label] = result.fusion.image
        with tempfile.TemporaryDirectory() as scratch:
            for program in ("enfuse", "focus-stack"):
                image = peer_fusion(program, list(scene.sources), Path(scratch))
                if image is not None and image.shape[:2] == truth.shape[:2]:
                    results[program] = image
        errors = np.stack([(luma(f) - luma(truth)) ** 2 for f in frames])
        oracle = np.take_along_axis(frames, errors.argmin(axis=0)[None, ..., None], 0)[0]
        best = max(frames, key=lambda f: score(f, truth, labels == 1))
        results.update({"best single frame (band)": best, "per-pixel oracle": oracle})
        for name, image in results.items():
            rows.setdefault(name, []).append(tuple(score(image, truth, r) for r in regions))
        crop = worst_crop(results["mfif (default)"], truth, labels == 1, CROP)
        tiles = [truth, results["mfif (default)"], results.get("enfuse", truth), frames[0]]
        strip = np.concatenate([np.clip(t[crop], 0, 1) for t in tiles], axis=1)
        cv2.imwrite(str(out / f"{scene.name}.png"), (strip[..., ::-1] * 255 + 0.5).astype(np.uint8))
    print(f"\n{folder.name}: mean PSNR, 8-bit luminance (all / halo band / object)")
    for name, values in rows.items():
        mean = np.mean(values, axis=0)
        print(f"  {name:26s} {mean[0]:6.2f} {mean[1]:6.2f} {mean[2]:6.2f}")
    print(f"crops (truth, mfif, enfuse, the object's frame): {out}/<scene>.png")


if __name__ == "__main__":
    main()
