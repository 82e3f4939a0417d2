"""Depth maps against ground truth: mfif's depth from focus and focus-stack's ``--depthmap``.

Builds the set if it is missing (the command is printed): ``mfif synth depth`` renders the 22
Middlebury 2006 scenes as 6-frame thin-lens stacks (disk blur up to 8 px, camera noise σ 1 level
at mid-grey, no motion). Each pixel's true focus position in frame units comes from its
disparity: frame k focuses disparity f_k, and a pixel at disparity d between f_k and f_k+1 lies
at k + (d − f_k) / (f_k+1 − f_k) (clamped to the stack). The error is the mean absolute
difference in frame units over the textured pixels (the truth's 9x9 standard deviation at
least 2 levels), for mfif's smoothed sub-frame depth, its raw index, and focus-stack's depth
map (0-255 over the frames, scaled to frame units; it keeps the frame size with
``--align-keep-size``), and again after each map's best linear fit to the truth (fair to a map
whose scale is not the frame index). Writes the colour views of the first scenes to build/depth/ for
looking at.

``--real`` instead writes, for each shared real stack, mfif's depth view beside focus-stack's
depth map (the same colour map) to build/depth/real/<stack>.png. Look at them.

    .venv/bin/python benchmarks/depth.py [--limit N] [--real]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

import mfif
from mfif.color import luminance
from mfif.depth import depth_colours, estimate_depth
from mfif.frames import ArrayFrames

from _common import require_shared

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "build" / "realistic" / "depth6"
SYNTH = ["synth", "depth", "{natural}/middlebury2006/images", "{natural}/middlebury2006/depth",
         str(SET), "--planes", "6", "--max-blur", "8", "--noise", "1", "--seed", "5"]  # fmt: skip


def true_depth(entry: dict, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(frame units (H, W) float, known (H, W) bool) from the scene's disparity map."""
    raw, bits = mfif.read_image(ROOT / entry["disparity"])
    raw = raw if raw.ndim == 2 else raw[..., 0]
    disparity = raw.astype(np.float64) * (255.0 if bits == 8 else 65535.0)
    focus = np.array([entry["focus_disparities"][name] for name in names])
    order = np.argsort(focus)
    frames = np.interp(disparity, focus[order], np.arange(len(names))[order])
    return frames, disparity > 0


def textured(truth: np.ndarray) -> np.ndarray:
    grey = luminance(truth) * 255
    mean = cv2.blur(grey, (9, 9))
    spread = np.sqrt(np.maximum(cv2.blur(grey * grey, (9, 9)) - mean * mean, 0))
    return spread >= 2.0


def focus_stack_depth(frames: list[Path], count: int) -> np.ndarray | None:
    program = shutil.which("focus-stack")
    if program is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        depth = Path(scratch) / "depth.png"
        command = [program, *map(str, frames), f"--output={scratch}/out.jpg",
                   f"--depthmap={depth}", "--align-keep-size"]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)
        levels = cv2.imread(str(depth), cv2.IMREAD_GRAYSCALE).astype(np.float64)
    return levels / 255.0 * (count - 1)


def real_stacks(datasets: Path) -> None:
    """mfif's depth view beside focus-stack's depth map, per shared real stack."""
    from mfif.io import expand_inputs
    from mfif.pipeline import Pipeline

    out = ROOT / "build" / "depth" / "real"
    out.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in (datasets / "stacks").iterdir() if p.is_dir()):
        paths = expand_inputs([folder], exclude=["reference*"])
        with Pipeline(crop=False).run(paths) as result:
            found = estimate_depth(result.frames)
        tiles = [depth_colours(found)]
        peer = focus_stack_depth(paths, len(paths))
        if peer is not None:
            levels = np.round(peer / max(len(paths) - 1, 1) * 255).astype(np.uint8)
            colours = cv2.applyColorMap(levels, cv2.COLORMAP_TURBO)[..., ::-1] / 255.0
            tiles.append(cv2.resize(colours, tiles[0].shape[1::-1]).astype(np.float32))
        view = np.concatenate(tiles, axis=1)
        scale = min(1.0, 1600 / view.shape[1])
        view = cv2.resize(view, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(out / f"{folder.name}.png"), (view[..., ::-1] * 255 + 0.5).astype(np.uint8))
        print(f"{folder.name}: {len(paths)} frames, mean confidence {found.confidence.mean():.2f}")
    print(f"views (mfif, focus-stack): {out}/<stack>.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--real", action="store_true", help="views of the shared real stacks")
    args = parser.parse_args()
    if args.real:
        real_stacks(require_shared())
        return
    natural = require_shared() / "natural"
    if not (SET / "synth.json").exists():
        command = [str(ROOT / ".venv/bin/mfif"), *(p.format(natural=natural) for p in SYNTH)]
        print(" ".join(command))
        subprocess.run(command, check=True)
    manifest = json.loads((SET / "synth.json").read_text())
    out = ROOT / "build" / "depth"
    out.mkdir(parents=True, exist_ok=True)
    errors: dict[str, list[float]] = {}
    for number, (scene, entry) in enumerate(sorted(manifest["scenes"].items())[: args.limit]):
        paths = sorted(p for p in (SET / scene).iterdir() if len(p.stem) == 1)
        names = [p.stem for p in paths]
        truth_image = mfif.read_image(SET / scene / "GT.png")[0]
        truth, known = true_depth(entry, names)
        scored = known & textured(truth_image)
        stack = mfif.load_stack(paths)
        found = estimate_depth(ArrayFrames(stack))
        maps = {"mfif depth": found.depth, "mfif raw index": found.index}
        peer = focus_stack_depth(paths, len(paths))
        if peer is not None and peer.shape == truth.shape:
            maps["focus-stack --depthmap"] = peer
        for name, depth in maps.items():
            errors.setdefault(name, []).append(float(np.mean(np.abs(depth - truth)[scored])))
            # Fair to a map on another scale: the error after the best linear fit to the truth.
            slope, intercept = np.polyfit(depth[scored], truth[scored], 1)
            fitted = slope * depth[scored] + intercept
            errors.setdefault(f"{name} (fitted)", []).append(
                float(np.mean(np.abs(fitted - truth[scored])))
            )
        print(scene, "  ".join(f"{n} {v[-1]:.3f}" for n, v in errors.items()))
        if number < 4:
            view = np.concatenate([depth_colours(found), truth_image], axis=1)
            cv2.imwrite(str(out / f"{scene}.png"), (view[..., ::-1] * 255 + 0.5).astype(np.uint8))
    print(
        f"\nmean absolute error, frame units, textured pixels ({len(errors['mfif depth'])} scenes):"
    )
    for name, values in errors.items():
        print(f"  {name:24s} {np.mean(values):.3f}")
    print(f"colour views (mfif depth, truth image): {out}/<scene>.png")


if __name__ == "__main__":
    main()
