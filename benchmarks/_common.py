"""Helpers shared by the benchmark scripts: data location, enfuse, timing, synthetic stacks."""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

import mfif
from mfif.data.synthetic import (
    disk_kernel,
    fill_unknown_disparity,
    focus_planes,
    render_depth_stack,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ENFUSE_FLAGS = [
    "--exposure-weight=0",
    "--saturation-weight=0",
    "--contrast-weight=1",
    "--hard-mask",
]
# Synthetic stacks: blur radius per disparity unit, chosen so the whole scene depth range
# spans this many pixels of blur radius.
SYNTHETIC_MAX_RADIUS = 8.0


def require_shared() -> Path:
    datasets = SHARED / "datasets"
    if not datasets.is_dir():
        sys.exit(f"The benchmark needs {datasets} (the shared datasets); it is absent.")
    return datasets


def require_enfuse() -> str:
    path = shutil.which("enfuse")
    if path is None:
        sys.exit("The benchmark compares against enfuse: apt-get install enfuse")
    return path


def peer_fusion(program: str, frames: list[Path], scratch: Path) -> np.ndarray | None:
    """``program`` ("enfuse" with focus-stacking settings, or "focus-stack" keeping the frame
    size) run on ``frames``, its result read back; None when it is not installed."""
    found = shutil.which(program)
    if found is None:
        return None
    output = scratch / f"{program}.tif"
    if program == "enfuse":
        command = [found, *ENFUSE_FLAGS, f"--output={output}", *map(str, frames)]
    else:
        command = [found, *map(str, frames), f"--output={output}", "--align-keep-size"]
    subprocess.run(command, check=True, capture_output=True)
    return mfif.read_image(output)[0]


def generated_scenes_arguments(description: str) -> tuple[argparse.Namespace, list[Path]]:
    """The command line of a benchmark on generated scenes (``--scenes N``, ``--methods``
    NAME or NAME:OPTION=VALUE,...), and the natural images it draws them from (frame 20 of
    each ``natural/davis2016`` sequence)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--methods", nargs="+", default=["guided-decision", "laplacian-pyramid"])
    arguments = parser.parse_args()  # --help answers without the data
    naturals = sorted((require_shared() / "natural" / "davis2016" / "images").glob("*_00020.jpg"))
    return arguments, naturals


def fused_without_alignment(
    methods: list[str], paths: list[Path], scratch: Path
) -> dict[str, np.ndarray]:
    """Each of ``methods`` (``NAME`` or ``NAME:OPTION=VALUE,...``) through the pipeline without
    alignment, then enfuse and focus-stack when installed (`peer_fusion`), on the frames at
    ``paths`` (a generated stack that did not move): {name: fused image (H, W, C)}."""
    from mfif.cli.arguments import parse_options
    from mfif.pipeline import Pipeline

    results = {}
    for method in methods:
        name, _, variant = method.partition(":")
        options = parse_options(variant.split(",")) if variant else {}
        with Pipeline(name, align="none", options=options).run(paths) as result:
            results[method] = result.fusion.image
    for program in ("enfuse", "focus-stack"):
        image = peer_fusion(program, paths, scratch)
        if image is not None:
            results[program] = image
    return results


def worst_crop(
    image: np.ndarray, truth: np.ndarray, region: np.ndarray, size: int
) -> tuple[slice, slice]:
    """(rows, columns) of the ``size`` x ``size`` crop where ``image`` errs most (luminance)
    within ``region`` (H, W) bool."""
    from mfif.color import luminance

    error = np.abs(luminance(image) - luminance(truth)) * region
    spread = cv2.blur(error.astype(np.float32), (size // 2, size // 2))
    y, x = np.unravel_index(int(np.argmax(spread)), spread.shape)
    top = int(np.clip(y - size // 2, 0, truth.shape[0] - size))
    left = int(np.clip(x - size // 2, 0, truth.shape[1] - size))
    return slice(top, top + size), slice(left, left + size)


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_enfuse(paths: list[Path], output: Path) -> float:
    """Run enfuse with focus-stacking settings; returns wall seconds."""
    command = [require_enfuse(), *ENFUSE_FLAGS, f"--output={output}", *map(str, paths)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def real_stacks(datasets: Path, name: str) -> list[tuple[str, list[Path]]]:
    root = datasets / "real" / name
    stacks = []
    for scene in sorted(p for p in root.iterdir() if p.is_dir()):
        sources = sorted(p for p in scene.iterdir() if p.stem in "ABCDEFGH" and len(p.stem) == 1)
        stacks.append((scene.name, sources))
    return stacks


def middlebury_stacks(
    datasets: Path, planes: int, *, views: tuple[str, ...] = ("v1",)
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Depth-rendered stacks from Middlebury 2006: (scene, sources (N,H,W,3), ground truth)."""
    root = datasets / "natural" / "middlebury2006"
    stacks = []
    for image_path in sorted((root / "images").glob("*.png")):
        if not image_path.stem.endswith(views):
            continue
        sharp, _ = mfif.read_image(image_path)
        disparity, _ = mfif.read_image(root / "depth" / image_path.name)
        disparity = fill_unknown_disparity(disparity * 255.0)
        spread = float(disparity.max() - disparity.min())
        sources = render_depth_stack(
            sharp,
            disparity,
            focus_planes(disparity, planes),
            blur_per_disparity=SYNTHETIC_MAX_RADIUS / spread,
        )
        stacks.append((image_path.stem, sources, sharp))
    return stacks


def davis_mask_stacks(
    datasets: Path, *, blur_radius: float = 4.0, frame: str = "00040"
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Object/background pairs from DAVIS 2016 (UFA-Fuse eq. (11) style): source A is sharp on
    the masked object and disk-blurred elsewhere, source B the reverse. One frame per sequence.
    """
    root = datasets / "natural" / "davis2016"
    kernel = disk_kernel(blur_radius)
    stacks = []
    for image_path in sorted((root / "images").glob(f"*_{frame}.jpg")):
        sharp, _ = mfif.read_image(image_path)
        mask, _ = mfif.read_image(root / "masks" / f"{image_path.stem}.png")
        mask = (mask > 0.5).astype(np.float32)[..., None]
        blurred = cv2.filter2D(sharp, -1, kernel, borderType=cv2.BORDER_REFLECT)
        near = mask * sharp + (1 - mask) * blurred
        far = (1 - mask) * sharp + mask * blurred
        stacks.append((image_path.stem, np.stack([near, far]).astype(np.float32), sharp))
    return stacks


class TemporaryStack:
    """Writes in-memory sources to lossless PNG files for external programs."""

    def __init__(self, sources: np.ndarray) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="mfif-bench-")
        folder = Path(self._folder.name)
        self.paths = []
        for k, source in enumerate(sources):
            path = folder / f"{chr(ord('A') + k)}.png"
            mfif.save_image(path, source)
            self.paths.append(path)
        self.output = folder / "enfuse.tif"

    def __enter__(self) -> TemporaryStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self._folder.cleanup()


@functools.cache
def compile_package() -> None:
    """Write mfif's bytecode once, as installing a package does: an editable install under
    PYTHONDONTWRITEBYTECODE (set on our machines) would otherwise compile every module at every
    start (~0.05 s), which no installed copy pays."""
    import compileall

    compileall.compile_dir(Path(mfif.__file__).parent, quiet=1)


def child_run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of ``command`` run alone in a child (mfif's
    bytecode compiled first, `compile_package`)."""
    compile_package()
    child = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    output = subprocess.run(
        [sys.executable, "-c", child, *command], check=True, capture_output=True, text=True
    )
    seconds, megabytes = output.stdout.split()
    return float(seconds), float(megabytes)
