"""Big stacks: frames x megapixels -> time and peak resident memory of the whole `mfif fuse`
process, with enfuse (and focus-stack, when installed) on the same files in the same run.

The stacks are made from a real 10-frame stack (``shinestacker__amber_flies``): each frame is
enlarged (bicubic) to the size asked and saved as a JPEG (quality 95, as cameras write), and
the frames are repeated (links to the same files) up to the count asked.

    .venv/bin/python benchmarks/scale.py --sizes 3x10 12x10 24x10 24x30 \
        --methods guided-decision laplacian-pyramid --peers enfuse

Each program runs alone in a child process; the peak is the child's maximum resident set size.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import cv2

from _common import ENFUSE_FLAGS, child_run, require_enfuse, require_shared

SOURCE_STACK = "shinestacker__amber_flies"


def parse_size(text: str) -> tuple[float, int]:
    """ "24x30" -> (24.0 megapixels, 30 frames)."""
    megapixels, frames = text.lower().split("x")
    return float(megapixels), int(frames)


def make_stack(source: Path, megapixels: float, frames: int, folder: Path) -> list[Path]:
    """``frames`` JPEG paths of ``megapixels`` each in ``folder`` (built once per size)."""
    originals = sorted(
        p
        for p in source.iterdir()
        if p.suffix.lower() in (".jpg", ".png") and not p.stem.startswith("reference")
    )  # another tool's result ships beside the frames; it is not one
    first = cv2.imread(str(originals[0]), cv2.IMREAD_COLOR)
    factor = (megapixels * 1e6 / (first.shape[0] * first.shape[1])) ** 0.5
    size = (round(first.shape[1] * factor), round(first.shape[0] * factor))
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for k, path in enumerate(originals):
        target = folder / f"base-{k:02d}.jpg"
        if not target.exists():
            image = cv2.resize(cv2.imread(str(path), cv2.IMREAD_COLOR), size, cv2.INTER_CUBIC)
            cv2.imwrite(str(target), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        made.append(target)
    paths = []
    for k in range(frames):
        link = folder / f"frame-{k:03d}.jpg"
        if not link.exists():
            link.symlink_to(made[k % len(made)].name)
        paths.append(link)
    return paths


def commands(peer: str, paths: list[Path], output: Path) -> list[str]:
    files = [str(p) for p in paths]
    if peer == "enfuse":
        return [require_enfuse(), *ENFUSE_FLAGS, f"--output={output}.tif", *files]
    if peer == "focus-stack":
        return [shutil.which("focus-stack") or "focus-stack", f"--output={output}.jpg", *files]
    raise ValueError(peer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["3x10", "12x10", "24x10", "24x30"])
    parser.add_argument("--methods", nargs="+", default=["guided-decision"])
    parser.add_argument("--peers", nargs="*", default=["enfuse"])
    parser.add_argument("--align", default="auto", help="mfif's --align")
    parser.add_argument("--scratch", type=Path, help="where the stacks are written")
    args = parser.parse_args()
    source = require_shared() / "stacks" / SOURCE_STACK
    mfif_command = str(Path(sys.executable).with_name("mfif"))
    programs = [f"mfif {m}" for m in args.methods] + list(args.peers)
    print(f"Stacks from {SOURCE_STACK}, enlarged and repeated; 2 CPU cores; whole processes\n")
    print("| stack (MP x frames) | " + " | ".join(programs) + " |")
    print("|---" * (len(programs) + 1) + "|")
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        for size in args.sizes:
            megapixels, frames = parse_size(size)
            paths = make_stack(source, megapixels, frames, Path(scratch) / f"{megapixels:g}MP")
            output = Path(scratch) / "out"
            measured = {}
            for peer in args.peers:
                measured[peer] = child_run(commands(peer, paths, output))
            for method in args.methods:
                command = [mfif_command, "fuse", "-m", method, "--align", args.align]
                measured[f"mfif {method}"] = child_run(
                    [*command, *map(str, paths), "-o", f"{output}.png"]
                )
            cells = []
            for program in programs:
                seconds, megabytes = measured[program]
                cell = f"{seconds:.1f} s / {megabytes / 1024:.2f} GB"
                if program.startswith("mfif") and "enfuse" in measured:
                    cell += f" ({seconds / measured['enfuse'][0]:.2f}x enfuse)"
                cells.append(cell)
            print(f"| {megapixels:g} x {frames} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
