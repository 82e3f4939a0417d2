"""Thin structures at several depths in front of a textured background (hairs, legs, wires,
fibres): does a method keep each one from the frame that focuses it, or take the sharp
background seen through its blur from another frame? The ground-truth form of a
microscope stack's legs coming from a blurred frame (issue 29), and of the trade the repair
of patchy decisions makes (README, Methods, "A visible failure, repaired").

Each scene (``--scenes``, random): a natural image from ``natural/davis2016`` (darkened to
0.6) at the back, sharp in the last frame, and 8-15 strokes (polylines 1-6 px wide, each its
own colour with a faint texture) at random depths in front; 6 frames focused evenly from the
front (depth 0) to the background (depth 1); each layer is blurred by a disk of radius 12 px
times its distance from the focus and composited over what lies behind it with its blurred
coverage (occlusion-aware, as `mfif synth layered`); camera noise (`mfif.data.camera`, σ 3
levels at mid-grey). Fused without alignment. Reported per method: PSNR (8-bit luminance) over the
strokes (their coverage above one half) and over the rest; the per-pixel oracle (the frame
closest to the truth at each pixel) bounds both. enfuse and focus-stack run on the same files
when installed. Writes 100 % crops of the block where the first method errs most on the
strokes (truth, each method, the peers) to ``build/fibres/<scene>.png``: look at them.

    .venv/bin/python benchmarks/fibres.py [--scenes 8] [--methods guided-decision ...]

A method may carry options, as in `benchmarks/halo.py`: ``guided-decision:repair_window=0``.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import cv2
import numpy as np

from mfif.color import luminance
from mfif.data.camera import Capture
from mfif.metrics import region_psnr
from mottling import disk_blur

from _common import fused_without_alignment, generated_scenes_arguments, worst_crop

ROOT = Path(__file__).resolve().parents[1]
SIZE = (480, 640)  # height, width
FRAMES = 6
MAX_RADIUS = 12.0
CROP = 128
CAMERA = Capture(noise=3.0)  # σ 3 levels at mid-grey, shot and read noise


def strokes(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(coverage (H, W, 1), colour image (H, W, 3), depth in [0, 0.8]) of each stroke, far
    first."""
    height, width = SIZE
    layers = []
    for _ in range(int(rng.integers(8, 16))):
        coverage = np.zeros((height, width), np.float32)
        points = rng.integers([0, 0], [width, height], size=(4, 2)).astype(np.int32)
        cv2.polylines(coverage, [points.reshape(-1, 1, 2)], False, 1.0, int(rng.integers(1, 7)),
                      cv2.LINE_AA)  # fmt: skip
        grain = cv2.GaussianBlur(rng.random((height, width), dtype=np.float32), (0, 0), 1.0)
        colour = rng.uniform(0.3, 1.0, 3).astype(np.float32) * (0.8 + 0.2 * grain[..., None])
        layers.append((coverage[..., None], colour, float(rng.uniform(0.0, 0.8))))
    return sorted(layers, key=lambda layer: -layer[2])


def scene(
    rng: np.random.Generator, natural: Path
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(frames, truth, the strokes' region)."""
    height, width = SIZE
    back = cv2.cvtColor(cv2.imread(str(natural)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    back = cv2.resize(back, (width, height), interpolation=cv2.INTER_AREA) * 0.6
    layers = strokes(rng)
    frames = []
    for k in range(FRAMES):
        focus = k / (FRAMES - 1)
        frame = disk_blur(back, MAX_RADIUS * (1.0 - focus))
        for coverage, colour, depth in layers:
            radius = MAX_RADIUS * abs(depth - focus)
            spread = disk_blur(coverage, radius)
            frame = disk_blur(coverage * colour, radius) + (1.0 - spread) * frame
        frames.append(CAMERA.add_noise(frame.astype(np.float32), rng))
    truth, region = back.copy(), np.zeros((height, width), bool)
    for coverage, colour, _ in layers:
        truth = coverage * colour + (1.0 - coverage) * truth
        region |= coverage[..., 0] > 0.5
    return frames, truth, region


def main() -> None:
    args, naturals = generated_scenes_arguments(__doc__.splitlines()[0])
    out = ROOT / "build" / "fibres"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    scores: dict[str, list[tuple[float, float]]] = {}
    for index in range(args.scenes):
        natural = naturals[index * 3 % len(naturals)]
        frames, truth, region = scene(rng, natural)
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            paths = []
            for k, frame in enumerate(frames):
                paths.append(folder / f"{k}.png")
                encoded = np.ascontiguousarray((frame[..., ::-1] * 255 + 0.5).astype(np.uint8))
                cv2.imwrite(str(paths[-1]), encoded)
            results = fused_without_alignment(args.methods, paths, folder)
        stack = np.stack(frames)
        errors = np.stack([(luminance(f) - luminance(truth)) ** 2 for f in stack])
        nearest = errors.argmin(axis=0)[None, ..., None]
        results["per-pixel oracle"] = np.take_along_axis(stack, nearest, 0)[0]
        for name, image in results.items():
            row = (region_psnr(image, truth, region), region_psnr(image, truth, ~region))
            scores.setdefault(name, []).append(row)
        crop = worst_crop(results[args.methods[0]], truth, region, CROP)
        tiles = [truth] + [image for name, image in results.items() if name != "per-pixel oracle"]
        strip = np.concatenate([np.clip(tile[crop], 0, 1) for tile in tiles], axis=1)
        cv2.imwrite(str(out / f"{index}-{natural.stem}.png"),
                    (strip[..., ::-1] * 255 + 0.5).astype(np.uint8))  # fmt: skip
    print(f"{args.scenes} scenes, {FRAMES} frames of {SIZE[1]}x{SIZE[0]}: mean over scenes")
    print("| method | PSNR strokes | PSNR rest |")
    print("|---|---|---|")
    for name, rows in scores.items():
        strokes_, rest = (statistics.mean(column) for column in zip(*rows, strict=True))
        print(f"| {name} | {strokes_:.2f} | {rest:.2f} |")
    names = ", ".join(["truth", *(n for n in scores if n != "per-pixel oracle")])
    print(f"crops ({names}): {out}/<scene>.png")


if __name__ == "__main__":
    main()
