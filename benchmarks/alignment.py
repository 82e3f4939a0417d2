"""Alignment: quality on misaligned stacks with ground truth, and speed on a real stack.

Quality: ``mfif synth depth`` renders the 22 Middlebury 2006 scenes as 4-frame thin-lens stacks
and moves the frames as a real stack moves (2-8 % breathing, up to 4 px drift, 0.25 deg
rotation, 3 % exposure flicker), then adds camera noise (shot + read, `mfif.data.camera`): two
sets, **misaligned** (σ 1 level at mid-grey: slight) and **noisy** (σ 3 levels). Each scene is
fused

- by the default ``mfif fuse`` pipeline (alignment ``auto``),
- by the same pipeline given the perfect alignment (the known transforms and gains),
- by the same fuser without alignment,
- by focus-stack (its own ECC alignment), when installed,

each through `mfif.pipeline.Pipeline.run` without crop, as ``mfif fuse --no-crop`` does, the
result cut to the region every frame covers, and scored by PSNR (8-bit luminance) there.
focus-stack writes its result in its own crop, so its output is first registered onto the
ground truth (similarity, mfif.align) and scored where it covers it.

Speed: align + fuse of ``petteri__pcb`` (7 x 3 MP) as a whole ``mfif fuse`` process against
focus-stack in the same run, and the alignment time per frame per megapixel.

    .venv/bin/python benchmarks/alignment.py [--repeats 3] [--sets misaligned noisy]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import mfif
from mfif.align import align_stack, apply_alignment
from mfif.data.misalign import known_alignment
from mfif.metrics import psnr
from mfif.pipeline import Pipeline
from mfif.stack import Stack

from _common import require_shared

ROOT = Path(__file__).resolve().parents[1]
SETS = {"misaligned": 1.0, "noisy": 3.0}  # camera noise σ at mid-grey, 8-bit levels
SYNTH = [
    "synth", "depth", "{natural}/middlebury2006/images", "{natural}/middlebury2006/depth",
    "{folder}", "--planes", "4", "--max-blur", "8", "--breathing", "8", "--shift", "4",
    "--rotation", "0.25", "--gain", "3", "--noise", "{noise}", "--seed", "2",
]  # fmt: skip


def make_set(natural: Path, name: str) -> tuple[Path, dict]:
    folder = ROOT / "build" / "realistic" / name
    if not (folder / "synth.json").exists():
        values = {"natural": natural, "folder": folder, "noise": SETS[name]}
        arguments = [part.format(**values) for part in SYNTH]
        subprocess.run([str(ROOT / ".venv/bin/mfif"), *arguments], check=True)
    return folder, json.loads((folder / "synth.json").read_text())


def cut(image: np.ndarray, crop: list[int]) -> np.ndarray:
    top, left, height, width = crop
    return np.ascontiguousarray(image[..., top : top + height, left : left + width, :])


def fused(pipeline: Pipeline, stack: Stack, crop: list[int]) -> np.ndarray:
    """``pipeline`` run on ``stack`` without crop, the result cut to ``crop``."""
    with pipeline.run(stack) as result:
        return cut(result.fusion.image, crop)


def focus_stack_psnr(folder: Path, truth: np.ndarray) -> float | None:
    program = shutil.which("focus-stack")
    if program is None:
        return None
    frames = sorted(str(p) for p in folder.iterdir() if len(p.stem) == 1 and p.stem != "G")
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "fused.png"
        subprocess.run([program, *frames, f"--output={output}"], capture_output=True, check=True)
        fused = mfif.read_image(output)[0]
    # Register focus-stack's result onto the truth and score where it covers it.
    height = max(fused.shape[0], truth.shape[0])
    width = max(fused.shape[1], truth.shape[1])
    canvas = np.zeros((2, height, width, truth.shape[2] if truth.ndim == 3 else 1), np.float32)
    canvas[0, : truth.shape[0], : truth.shape[1]] = truth.reshape(*truth.shape[:2], -1)
    canvas[1, : fused.shape[0], : fused.shape[1]] = fused.reshape(*fused.shape[:2], -1)
    pair = Stack(images=canvas)
    aligned, _ = align_stack(pair, model="similarity", reference=0, crop=False)
    valid = aligned.valid[: truth.shape[0], : truth.shape[1]]
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    box = (slice(rows[0] + 2, rows[-1] - 1), slice(cols[0] + 2, cols[-1] - 1))
    result = aligned.images[1][: truth.shape[0], : truth.shape[1]][box]
    return psnr(result, truth.reshape(*truth.shape[:2], -1)[box])


def quality(natural: Path, name: str) -> None:
    set_folder, manifest = make_set(natural, name)
    rows = []
    for scene, entry in sorted(manifest["scenes"].items()):
        folder = set_folder / scene
        frames = sorted(p for p in folder.iterdir() if len(p.stem) == 1)
        truth = mfif.read_image(folder / "GT.png")[0]
        record = entry["misalignment"]
        stack = mfif.load_stack(frames)
        crop = record["crop"]
        perfect_alignment = known_alignment(record, stack.size, stack.images.shape[3])
        perfect = apply_alignment(stack, perfect_alignment, crop=False)
        scores = {
            # What `mfif fuse` does (auto alignment), without the crop so that it is scored
            # on the truth's region.
            "mfif fuse (auto)": psnr(fused(Pipeline(crop=False), stack, crop), truth),
            "perfect alignment": psnr(
                fused(Pipeline(alignment=perfect_alignment, crop=False), stack, crop), truth
            ),
            "no alignment": psnr(fused(Pipeline(align="none"), stack, crop), truth),
            "best frame": max(psnr(f, truth) for f in cut(perfect.images, crop)),
        }
        peer = focus_stack_psnr(folder, truth)
        if peer is not None:
            scores["focus-stack"] = peer
        rows.append(scores)
        print(
            f"{scene:16s} breathing {record['breathing_percent']:+.2f}% "
            + "  ".join(f"{k} {v:6.2f}" for k, v in scores.items())
        )
    print(f"\n{name}: mean PSNR over {len(rows)} scenes (8-bit luminance, covered region):")
    for key in rows[0]:
        print(f"  {key:20s} {statistics.mean(r[key] for r in rows):6.2f} dB")


def speed(datasets: Path, repeats: int) -> None:
    folder = datasets / "stacks" / "petteri__pcb"
    frames = sorted(str(p) for p in folder.iterdir() if not p.name.startswith("reference"))
    mfif_bin = str(ROOT / ".venv/bin/mfif")
    with tempfile.TemporaryDirectory() as scratch:

        def timed(command: list[str]) -> float:
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                times.append(time.perf_counter() - started)
            return statistics.median(times)

        report = Path(scratch) / "report.json"
        auto = timed([mfif_bin, "fuse", *frames, "-o", f"{scratch}/a.png", "--report", str(report)])
        none = timed([mfif_bin, "fuse", *frames, "-o", f"{scratch}/n.png", "--align", "none"])
        align_seconds = json.loads(report.read_text())["align_seconds"]
        program = shutil.which("focus-stack")
        peer = timed([program, *frames, f"--output={scratch}/f.jpg"]) if program else None
    stack = mfif.load_stack(frames)
    megapixels = stack.size[0] * stack.size[1] / 1e6
    print(
        f"\npetteri__pcb, {stack.count} frames of {stack.size[1]}x{stack.size[0]}, "
        f"whole process, median of {repeats}:"
    )
    print(f"  mfif fuse (align auto + fuse)  {auto:.2f} s")
    print(f"  mfif fuse --align none         {none:.2f} s")
    print(
        f"  alignment stage                {align_seconds:.2f} s = "
        f"{align_seconds / (stack.count * megapixels) * 1000:.0f} ms per frame per megapixel"
    )
    if peer is not None:
        print(
            f"  focus-stack                    {peer:.2f} s (ratio mfif/focus-stack "
            f"{auto / peer:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=list(SETS))
    args = parser.parse_args()
    datasets = require_shared()
    for name in args.sets:
        quality(datasets / "natural", name)
    speed(datasets, args.repeats)


if __name__ == "__main__":
    main()
