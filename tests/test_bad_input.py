"""A catalogue of bad input, tried as a hostile user would.

Every command-line case runs ``mfif`` as a real process in a fresh copy of one workspace and
checks what the README promises: the exit status (2 for bad input), exactly one line on
stderr that starts with "mfif: error:" and names the problem, no traceback, every file that
was there before unchanged (sha256), and nothing new left behind: no partial outputs, no
temporary files, no empty folders. Cases that must succeed check the modes of what they write.
The Python API's cases check that the same mistakes raise `mfif.MfifError` subclasses.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

import mfif
from mfif.errors import MfifError, OptionError, OutputError, StackError
from mfif.weights import weights_file

from conftest import LPIPS_AVAILABLE, complementary_stack

# Slow: a subprocess per case (the catalogue of refused inputs); `pytest -m 'not slow'`
# leaves it out, CI runs it.
pytestmark = pytest.mark.slow

HEIGHT, WIDTH = 48, 64


# --- the workspace ------------------------------------------------------------------------


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A valid PNG signature and IHDR claiming a huge size, with a tiny body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IDAT", zlib.compress(b"\0" * 4096))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + body + chunk(b"IEND", b""))


def _bmp_header_only(path: Path, width: int, height: int) -> None:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    path.write_bytes(b"BM" + struct.pack("<IHHI", 54 + 64, 0, 0, 54) + info + b"\0" * 64)


def _jpeg_header_only(path: Path, width: int, height: int) -> None:
    frame = struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    path.write_bytes(
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\xff\xc0"
        + frame
        + b"\xff\xd9"
    )


class _RunsCode:
    """A pickle that would create a file if it were ever unpickled with code allowed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _build_workspace(root: Path) -> None:
    rng = np.random.default_rng(7)
    sources, _, _ = complementary_stack(2, color=True, height=HEIGHT, width=WIDTH)
    for name, source in zip("AB", sources, strict=True):
        mfif.save_image(root / f"{name}.png", source)
    mfif.save_image(root / "grey.png", sources[0].mean(axis=2))
    mfif.save_image(root / "small.png", sources[0][:32, :40])
    mfif.save_image(root / "flat.png", np.zeros((HEIGHT, WIDTH), np.float32))
    mfif.save_image(root / "flat2.png", np.zeros((HEIGHT, WIDTH), np.float32))
    for name, source in zip(("float-A", "float-B"), sources, strict=True):
        tifffile.imwrite(root / f"{name}.tif", source, photometric="rgb")
    unit = rng.random((HEIGHT, WIDTH)).astype(np.float32)
    tifffile.imwrite(root / "float-4000.tif", unit * 4000)
    tifffile.imwrite(root / "float-negative.tif", unit - 0.5)
    for name, value in (("float-nan", np.nan), ("float-inf", np.inf)):
        bad = unit.copy()
        bad[5, 5] = value
        tifffile.imwrite(root / f"{name}.tif", bad)
    tifffile.imwrite(root / "int16.tif", (unit * 1000).astype(np.int16))
    tifffile.imwrite(root / "uint32.tif", (unit * 1000).astype(np.uint32))
    tifffile.imwrite(
        root / "five-channels.tif",
        rng.integers(0, 255, (HEIGHT, WIDTH, 5), np.uint8),
        photometric="minisblack",
        planarconfig="contig",
    )
    tifffile.imwrite(root / "one-page.tif", (unit * 255).astype(np.uint8))
    tifffile.imwrite(root / "mixed-pages.tif", (unit * 255).astype(np.uint8))
    tifffile.imwrite(root / "mixed-pages.tif", np.zeros((10, 10), np.uint8), append=True)
    _png_header_only(root / "bomb.png", 100_000, 100_000)
    _bmp_header_only(root / "bomb.bmp", 60_000, 60_000)
    _jpeg_header_only(root / "bomb.jpg", 65_000, 65_000)
    png = (root / "A.png").read_bytes()
    (root / "truncated.png").write_bytes(png[: len(png) // 2])
    ok, jpeg = cv2.imencode(".jpg", (sources[0] * 255).astype(np.uint8))
    (root / "truncated.jpg").write_bytes(jpeg.tobytes()[: len(jpeg) // 3])
    (root / "empty.png").write_bytes(b"")
    (root / "notes.png").write_text("a focus stack of a fly, 12 frames")
    (root / "garbage.tif").write_bytes(b"II*\x00" + bytes(rng.integers(0, 255, 200, np.uint8)))
    (root / "folder.png").mkdir()
    (root / "empty-folder").mkdir()
    # Benchmark roots: one whose scenes are all malformed.
    for scene, letters in (("only-a", "A"), ("gap", "AC")):
        (root / "bad-scenes" / scene).mkdir(parents=True)
        for letter in letters:
            shutil.copy(root / "A.png", root / "bad-scenes" / scene / f"{letter}.png")
    # Training data: a usable stack, and one whose sources differ in size.
    (root / "train" / "s1").mkdir(parents=True)
    for letter in "AB":
        shutil.copy(root / f"{letter}.png", root / "train" / "s1" / f"{letter}.png")
    (root / "odd-train" / "s1").mkdir(parents=True)
    shutil.copy(root / "A.png", root / "odd-train" / "s1" / "A.png")
    shutil.copy(root / "small.png", root / "odd-train" / "s1" / "B.png")
    from mfif.cli import main  # a real checkpoint, made with other settings than the cases use

    trained = ["--checkpoint", str(root / "trained.ckpt"), "--patch", "32", "--batch-size", "2"]
    assert main(["train", "udpnet", "--data", str(root / "train"), *trained, "--steps", "1"]) == 0
    mfif.save_image(root / "stranger.png", rng.random((HEIGHT, WIDTH, 3)).astype(np.float32))
    (root / "not-an-alignment.json").write_text('{"frames": 3}')
    (root / "other-alignment.json").write_text(
        '{"model": "similarity", "reference": 0, "shape": [10, 10], "frames": '
        '[{"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}, {"matrix": [[1, 0, 0], [0, 1, 0], '
        "[0, 0, 1]]}]}"
    )
    (root / "garbage.ckpt").write_bytes(b"\x80\x04 not a checkpoint" * 10)
    with open(root / "evil.ckpt", "wb") as handle:
        pickle.dump({"model": _RunsCode(root / "pwned"), "optimizer": {}, "step": 1}, handle)
    # Synthetic-data inputs whose masks and disparity maps all have the wrong size.
    (root / "natural" / "images").mkdir(parents=True)
    (root / "natural" / "masks").mkdir()
    (root / "natural" / "depth").mkdir()
    shutil.copy(root / "A.png", root / "natural" / "images" / "scene.png")
    mfif.save_image(root / "natural" / "masks" / "scene.png", np.ones((20, 20), np.float32))
    mfif.save_image(root / "natural" / "depth" / "scene.png", np.ones((20, 20), np.float32))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template")
    _build_workspace(root)
    return root


@pytest.fixture
def workspace(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(template, root, symlinks=True)
    os.mkfifo(root / "fifo.png")  # copytree cannot copy one
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root``: sha256 for files, "dir" or "fifo" otherwise."""
    state = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_fifo():
            state[key] = "fifo"
        elif path.is_dir():
            state[key] = "dir"
        else:
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def run_mfif(
    args: list[str], cwd: Path, *, env: dict[str, str] | None = None, umask: int = 0o022
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mfif", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=lambda: os.umask(umask),
        timeout=300,
    )


def assert_one_sentence(stderr: str, fragment: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mfif: error: "), lines[0]
    assert "error: mfif" not in lines[0], lines[0]  # one prefix
    assert fragment in lines[0], lines[0]
    assert lines[0].endswith("."), lines[0]


# --- command-line cases that must be refused ------------------------------------------------


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    fragment: str
    env: tuple[tuple[str, str], ...] = ()


LONG_NAME = "x" * 252 + ".png"  # 256 bytes: over NAME_MAX
FUSE = ("fuse", "A.png", "B.png")
TRAIN = (
    "train",
    "udpnet",
    "--data",
    "train",
    "--checkpoint",
    "run.ckpt",
    "--patch",
    "32",
    "--steps",
    "2",
)

REFUSED = {
    # 1. outputs that collide with existing paths or with each other
    "weights-is-a-file": Case((*FUSE, "-o", "o.png", "--weights", "grey.png"), "is a file"),
    "bench-out-is-a-file": Case(("bench", "bad-scenes", "--out", "grey.png"), "is a file"),
    "synth-out-is-a-file": Case(
        ("synth", "mask", "natural/images", "natural/masks", "grey.png"), "is a file"
    ),
    "demo-out-is-a-file": Case(("demo", "--out", "grey.png"), "is a file"),
    "depth-equals-output": Case((*FUSE, "-o", "o.png", "--depth-index", "o.png"), "same path"),
    "depth-equals-output-spelled-otherwise": Case(
        (*FUSE, "-o", "o.png", "--depth-index", "./empty-folder/../o.png"), "same path"
    ),
    "weights-folder-equals-output": Case((*FUSE, "-o", "o.png", "--weights", "o.png"), "same path"),
    "output-inside-weights": Case(
        (*FUSE, "-o", "w/weights-00-A.png", "--weights", "w"), "same path"
    ),
    "output-is-an-input": Case((*FUSE, "-o", "B.png"), "Refusing to overwrite the input"),
    "depth-is-an-input": Case(
        (*FUSE, "-o", "o.png", "--depth-index", "A.png"), "Refusing to overwrite the input"
    ),
    "output-is-a-folder": Case((*FUSE, "-o", "folder.png"), "is a folder"),
    "export-equals-checkpoint": Case((*TRAIN, "--export", "run.ckpt"), "different files"),
    "checkpoint-is-a-folder": Case(
        ("train", "udpnet", "--data", "train", "--checkpoint", "empty-folder", "--steps", "2"),
        "is a folder",
    ),
    # 2. unwritable outputs
    "output-in-proc": Case((*FUSE, "-o", "/proc/o.png"), "Cannot write /proc/o.png"),
    "output-in-sys": Case((*FUSE, "-o", "/sys/o.png"), "Cannot write /sys/o.png"),
    "depth-unwritable-after-a-good-output": Case(
        (*FUSE, "-o", "o.png", "--depth-index", "/proc/d.png"), "Cannot write /proc/d.png"
    ),
    "weights-folder-unwritable": Case(
        (*FUSE, "-o", "o.png", "--weights", "/proc/w"), "Cannot create the folder /proc/w"
    ),
    "name-too-long": Case((*FUSE, "-o", LONG_NAME), "256 bytes long"),
    "output-folder-missing": Case((*FUSE, "-o", "no/such/o.png"), "does not exist"),
    "output-parent-is-a-file": Case((*FUSE, "-o", "grey.png/o.png"), "is not a folder"),
    "demo-out-unwritable": Case(("demo", "--out", "/proc/demo"), "Cannot create the folder"),
    "bench-out-unwritable": Case(("bench", "train", "--out", "/proc/b"), "Cannot create"),
    "synth-out-unwritable": Case(
        ("synth", "depth", "natural/images", "natural/depth", "/proc/s"), "Cannot create"
    ),
    "checkpoint-unwritable": Case(
        ("train", "udpnet", "--data", "train", "--checkpoint", "/proc/c.ckpt", "--steps", "2"),
        "Cannot write /proc/c.ckpt",
    ),
    "export-unwritable": Case((*TRAIN, "--export", "/proc/e.pt"), "Cannot write /proc/e.pt"),
    "unknown-output-format": Case((*FUSE, "-o", "o.gif"), "must end in one of"),
    "output-without-suffix": Case((*FUSE, "-o", "fused"), "must end in one of"),
    "sixteen-bit-jpeg": Case((*FUSE, "-o", "o.jpg", "--bit-depth", "16"), "cannot hold 16-bit"),
    "float-png": Case((*FUSE, "-o", "o.png", "--bit-depth", "32"), "cannot hold 32-bit float"),
    "jpeg-depth-map": Case((*FUSE, "-o", "o.png", "--depth-index", "d.jpg"), "losslessly"),
    "depth-not-tiff": Case((*FUSE, "-o", "o.png", "--depth", "d.png"), "float32 TIFF"),
    "depth-view-is-the-output": Case((*FUSE, "-o", "d-view.png", "--depth", "d.tif"), "same path"),
    # 5. method options
    "option-not-a-number": Case((*FUSE, "-o", "o.png", "--option", "sigma=abc"), "sigma"),
    "option-negative": Case((*FUSE, "-o", "o.png", "--option", "sigma=-1"), "got -1"),
    "option-nan": Case((*FUSE, "-o", "o.png", "--option", "sigma=nan"), "from 0.1 to 50"),
    "option-infinite": Case((*FUSE, "-o", "o.png", "--option", "sigma=1e999"), "got inf"),
    "gff-eps-text": Case(
        (*FUSE, "-o", "o.png", "-m", "gff", "--option", "detail_eps=tiny"), "detail_eps"
    ),
    "gff-negative-radius": Case(
        (*FUSE, "-o", "o.png", "-m", "gff", "--option", "base_radius=-5"), "integer from 1"
    ),
    "radius-text": Case((*FUSE, "-o", "o.png", "--option", "radius=abc"), "an integer"),
    "radius-fraction": Case((*FUSE, "-o", "o.png", "--option", "radius=2.5"), "got 2.5"),
    "radius-boolean": Case((*FUSE, "-o", "o.png", "--option", "radius=True"), "got True"),
    "unknown-option": Case((*FUSE, "-o", "o.png", "--option", "colour=red"), "has no option"),
    "option-for-method-without-options": Case(
        (*FUSE, "-o", "o.png", "-m", "maxgrad", "--option", "radius=2"), "takes no options"
    ),
    "option-twice": Case(
        (*FUSE, "-o", "o.png", "--option", "radius=2", "--option", "radius=3"), "given twice"
    ),
    "option-without-value": Case((*FUSE, "-o", "o.png", "--option", "radius"), "NAME=VALUE"),
    "option-without-name": Case((*FUSE, "-o", "o.png", "--option", "=4"), "NAME=VALUE"),
    "unknown-wavelet": Case(
        (*FUSE, "-o", "o.png", "-m", "dwt", "--option", "wavelet=nope"), "discrete wavelet"
    ),
    "zero-levels": Case((*FUSE, "-o", "o.png", "-m", "dwt", "--option", "levels=0"), "levels"),
    "sf-threshold-one": Case(
        (*FUSE, "-o", "o.png", "-m", "sf", "--option", "threshold=1"), "threshold"
    ),
    "udpnet-small-tile": Case((*FUSE, "-o", "o.png", "-m", "udpnet", "--option", "tile=8"), "tile"),
    "udpnet-unknown-decision": Case(
        (*FUSE, "-o", "o.png", "-m", "udpnet", "--option", "decision=medium"), "'hard'"
    ),
    "udpnet-unknown-device": Case(
        (*FUSE, "-o", "o.png", "-m", "udpnet", "--option", "device=tpu"), "device"
    ),
    "udpnet-missing-weights": Case(
        (*FUSE, "-o", "o.png", "-m", "udpnet", "--option", "weights=none.pt"), "Cannot load"
    ),
    "udpnet-weights-not-weights": Case(
        (*FUSE, "-o", "o.png", "-m", "udpnet", "--option", "weights=grey.png"), "Cannot load"
    ),
    "unknown-method": Case((*FUSE, "-o", "o.png", "-m", "magic"), "Unknown method 'magic'"),
    # 6. decompression bombs and the pixel limit
    "png-bomb": Case((*FUSE[:2], "bomb.png", "-o", "o.png"), "more than the limit"),
    "bmp-bomb": Case(("fuse", "bomb.bmp", "bomb.bmp", "-o", "o.png"), "more than the limit"),
    "jpeg-bomb": Case(("fuse", "bomb.jpg", "A.png", "-o", "o.png"), "more than the limit"),
    "bomb-without-pixel-limit": Case(
        ("fuse", "bomb.png", "bomb.png", "-o", "o.png"),
        "GiB of memory",
        (("MFIF_MAX_PIXELS", "0"),),
    ),
    "bad-pixel-limit": Case(
        (*FUSE, "-o", "o.png"), "MFIF_MAX_PIXELS must be", (("MFIF_MAX_PIXELS", "lots"),)
    ),
    "pixel-limit-below-the-images": Case(
        (*FUSE, "-o", "o.png"), "more than the limit", (("MFIF_MAX_PIXELS", "1000"),)
    ),
    "metrics-bomb": Case(("metrics", "A.png", "--sources", "A.png", "bomb.png"), "limit"),
    # 7. one dtype policy
    "float-outside-unit-range": Case(
        ("fuse", "float-4000.tif", "float-4000.tif", "-o", "o.png"), "scale them to [0, 1]"
    ),
    "float-negative": Case(
        ("fuse", "float-negative.tif", "float-negative.tif", "-o", "o.png"), "outside [0, 1]"
    ),
    "float-nan": Case(("fuse", "float-nan.tif", "float-nan.tif", "-o", "o.png"), "NaN"),
    "float-inf": Case(("fuse", "float-inf.tif", "float-inf.tif", "-o", "o.png"), "infinite"),
    "signed-integers": Case(("fuse", "int16.tif", "int16.tif", "-o", "o.png"), "int16"),
    "thirty-two-bit-integers": Case(("fuse", "uint32.tif", "uint32.tif", "-o", "o.png"), "uint32"),
    "five-channels": Case(
        ("fuse", "five-channels.tif", "five-channels.tif", "-o", "o.png"), "layout"
    ),
    # 8. metrics
    "metrics-constant-nmi": Case(
        ("metrics", "flat.png", "--sources", "flat.png", "flat2.png", "--metrics", "NMI"), "NMI"
    ),
    "metrics-constant-nava": Case(
        ("metrics", "flat.png", "--sources", "flat.png", "flat2.png", "--metrics", "Q_TE_NAVA"),
        "Q_TE_NAVA",
    ),
    "metrics-mismatched-sizes": Case(
        ("metrics", "A.png", "--sources", "A.png", "small.png"), "size"
    ),
    "metrics-mismatched-truth": Case(
        ("metrics", "A.png", "--sources", "A.png", "B.png", "--gt", "small.png"), "size"
    ),
    "metrics-empty-list": Case(
        ("metrics", "A.png", "--sources", "A.png", "B.png", "--metrics", ","), "names no metric"
    ),
    "metrics-unknown": Case(("metrics", "A.png", "--metrics", "magic"), "Unknown metric"),
    "metrics-no-fused": Case(("metrics", "--sources", "A.png", "B.png"), "Give the fused image"),
    "metrics-missing-file": Case(("metrics", "nope.png", "--sources", "A.png"), "does not exist"),
    # 9. empty work is not success
    "bench-every-scene-malformed": Case(
        ("bench", "bad-scenes", "--out", "report"), "No usable scene"
    ),
    "bench-no-methods": Case(("bench", "train", "--out", "r", "--methods", ","), "names no method"),
    "bench-no-metrics": Case(("bench", "train", "--out", "r", "--metrics", ","), "names no metric"),
    "synth-mask-every-mask-wrong": Case(
        ("synth", "mask", "natural/images", "natural/masks", "out"), "No scene could be made"
    ),
    "synth-depth-every-map-wrong": Case(
        ("synth", "depth", "natural/images", "natural/depth", "out"), "No scene could be made"
    ),
    "synth-missing-images": Case(
        ("synth", "mask", "nowhere", "natural/masks", "out"), "nowhere does not exist"
    ),
    "synth-unknown-blur": Case(
        ("synth", "mask", "natural/images", "natural/masks", "out", "--psf", "foo"), "Blur kinds"
    ),
    "synth-one-plane": Case(
        ("synth", "depth", "natural/images", "natural/depth", "out", "--planes", "1"), "--planes"
    ),
    "synth-negative-noise": Case(
        ("synth", "mask", "natural/images", "natural/masks", "out", "--noise", "-2"), "--noise"
    ),
    "train-zero-steps": Case((*TRAIN[:-1], "0"), "--steps"),
    "train-negative-steps": Case((*TRAIN[:-1], "-1"), "--steps"),
    "train-checkpoint-of-other-settings": Case(
        (
            "train",
            "udpnet",
            "--data",
            "train",
            "--checkpoint",
            "trained.ckpt",
            "--patch",
            "32",
            "--steps",
            "9",
            "--seed",
            "5",
        ),
        "other settings",
    ),
    # 10. train
    "train-no-usable-stacks": Case(
        ("train", "udpnet", "--data", "odd-train", "--checkpoint", "c.ckpt", "--steps", "2"),
        "No usable stacks",
    ),
    "train-patch-larger-than-images": Case(
        (*TRAIN[:-2], "--patch", "500", "--steps", "2"), "larger than every"
    ),
    "train-zero-batch": Case((*TRAIN, "--batch-size", "0"), "--batch-size"),
    "train-zero-learning-rate": Case((*TRAIN, "--learning-rate", "0"), "--learning-rate"),
    "train-zero-checkpoint-interval": Case(
        (*TRAIN, "--checkpoint-every", "0"), "--checkpoint-every"
    ),
    "train-corrupt-checkpoint": Case(
        (
            "train",
            "udpnet",
            "--data",
            "train",
            "--checkpoint",
            "garbage.ckpt",
            "--patch",
            "32",
            "--steps",
            "2",
        ),
        "not a training checkpoint",
    ),
    "train-checkpoint-that-runs-code": Case(
        (
            "train",
            "udpnet",
            "--data",
            "train",
            "--checkpoint",
            "evil.ckpt",
            "--patch",
            "32",
            "--steps",
            "2",
        ),
        "not a training checkpoint",
    ),
    "train-validation-without-ground-truth": Case((*TRAIN, "--validate", "train"), "ground truth"),
    "train-missing-data": Case(
        ("train", "udpnet", "--data", "nowhere", "--checkpoint", "c.ckpt", "--steps", "2"),
        "not a folder",
    ),
    # 12. noise from native libraries, and other unreadable inputs
    "truncated-png": Case(("fuse", "A.png", "truncated.png", "-o", "o.png"), "not a readable"),
    "empty-file": Case(("fuse", "A.png", "empty.png", "-o", "o.png"), "not a readable"),
    "text-file": Case(("fuse", "A.png", "notes.png", "-o", "o.png"), "not a readable"),
    "corrupt-tiff": Case(("fuse", "A.png", "garbage.tif", "-o", "o.png"), "garbage.tif"),
    "missing-file": Case(("fuse", "A.png", "nope.png", "-o", "o.png"), "does not exist"),
    "missing-folder": Case(("fuse", "no-such-folder", "-o", "o.png"), "no-such-folder does not"),
    "exclude-leaves-nothing": Case(
        ("fuse", "A.png", "B.png", "--exclude", "*.png", "-o", "o.png"), "leaves no image"
    ),
    "method-typo": Case((*FUSE, "-o", "o.png", "-m", "gfff"), "did you mean 'gff'"),
    "command-typo": Case(("fuze", "A.png"), "did you mean 'fuse'"),
    "choice-typo": Case((*FUSE, "-o", "o.png", "--align", "autoo"), "did you mean 'auto'"),
    "metric-typo": Case(
        ("metrics", "A.png", "--sources", "A.png", "B.png", "--metrics", "Q_GG"),
        "did you mean 'Q_G'",
    ),
    "fifo-input": Case(("fuse", "A.png", "fifo.png", "-o", "o.png"), "is not a file"),
    "device-input": Case(("fuse", "A.png", "/dev/null", "-o", "o.png"), "is not a file"),
    "input-name-too-long": Case(("fuse", "A.png", LONG_NAME, "-o", "o.png"), "too long"),
    "empty-folder": Case(("fuse", "empty-folder", "-o", "o.png"), "contains no PNG"),
    "glob-without-match": Case(("fuse", "*.webp", "-o", "o.png"), "matches no file"),
    "single-image": Case(("fuse", "A.png", "-o", "o.png"), "at least 2 images"),
    "single-page-tiff": Case(("fuse", "one-page.tif", "-o", "o.png"), "single-page TIFF"),
    "tiff-pages-of-two-sizes": Case(("fuse", "mixed-pages.tif", "-o", "o.png"), "same size"),
    "different-sizes": Case(("fuse", "A.png", "small.png", "-o", "o.png"), "same size"),
    "grey-and-colour": Case(("fuse", "A.png", "grey.png", "-o", "o.png"), "cannot be mixed"),
    "weights-without-weight-maps": Case(
        (*FUSE, "-o", "o.png", "-m", "dwt", "--weights", "w"), "produces no weight maps"
    ),
    # alignment
    "frame-of-another-scene": Case(
        ("fuse", "A.png", "B.png", "stranger.png", "-o", "o.png"), "Frame 2 (stranger.png)"
    ),
    "frame-of-another-scene-explicit-model": Case(
        ("fuse", "A.png", "B.png", "stranger.png", "-o", "o.png", "--align", "affine"),
        "cannot be registered",
    ),
    "reference-out-of-range": Case((*FUSE, "-o", "o.png", "--reference", "5"), "from 0 to 1"),
    "reference-negative": Case((*FUSE, "-o", "o.png", "--reference", "-1"), "--reference"),
    "unknown-motion-model": Case((*FUSE, "-o", "o.png", "--align", "warp"), "invalid choice"),
    "alignment-file-missing": Case((*FUSE, "-o", "o.png", "--alignment", "no.json"), "no.json"),
    "alignment-file-not-json": Case(
        (*FUSE, "-o", "o.png", "--alignment", "notes.png"), "Cannot read the alignment file"
    ),
    "alignment-file-not-an-alignment": Case(
        (*FUSE, "-o", "o.png", "--alignment", "not-an-alignment.json"), "does not describe"
    ),
    "alignment-of-another-stack": Case(
        (*FUSE, "-o", "o.png", "--alignment", "other-alignment.json"), "10x10"
    ),
    "report-is-an-input": Case(
        (*FUSE, "-o", "o.png", "--report", "A.png"), "Refusing to overwrite the input"
    ),
    "save-aligned-is-a-file": Case(
        (*FUSE, "-o", "o.png", "--save-aligned", "grey.png"), "is a file"
    ),
    # the command line itself
    "no-command": Case((), "required"),
    "unknown-command": Case(("frobnicate",), "invalid choice"),
    "fuse-without-output": Case(FUSE, "-o/--output"),
    "bad-bit-depth": Case((*FUSE, "-o", "o.png", "--bit-depth", "7"), "invalid choice"),
    "bit-depth-text": Case((*FUSE, "-o", "o.png", "--bit-depth", "deep"), "invalid int"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused(workspace: Path, name: str) -> None:
    case = REFUSED[name]
    before = snapshot(workspace)
    result = run_mfif(list(case.args), workspace, env=dict(case.env))
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert_one_sentence(result.stderr, case.fragment)
    assert result.stdout == "", result.stdout
    assert snapshot(workspace) == before  # inputs unchanged, nothing left behind


@pytest.mark.skipif(LPIPS_AVAILABLE, reason="the case is about LPIPS being absent")
def test_bench_refuses_lpips_without_its_extra(workspace: Path) -> None:
    before = snapshot(workspace)
    result = run_mfif(["bench", "train", "--out", "r", "--metrics", "PSNR,LPIPS"], workspace)
    assert result.returncode == 2
    assert_one_sentence(result.stderr, "pip install")
    assert snapshot(workspace) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(workspace: Path) -> None:
    (workspace / "locked").mkdir()
    (workspace / "locked").chmod(0o555)
    before = snapshot(workspace)
    try:
        result = run_mfif([*FUSE, "-o", "o.png", "--depth-index", "locked/d.png"], workspace)
    finally:
        (workspace / "locked").chmod(0o755)
    assert result.returncode == 2
    assert_one_sentence(result.stderr, "permission denied")
    assert snapshot(workspace) == before


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 64 KiB file system (tmpfs), where a fused image does not fit."""
    mount_point = tmp_path / "full"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)


def test_a_full_disk_leaves_nothing(workspace: Path, full_disk: Path) -> None:
    _write_scene_frames(workspace, ["noise-1.png", "noise-2.png"], (300, 300), seed=5)
    before = snapshot(workspace)
    result = run_mfif(
        [
            "fuse",
            "noise-1.png",
            "noise-2.png",
            "-o",
            f"{full_disk}/o.png",
            "--depth-index",
            f"{full_disk}/d.png",
        ],
        workspace,
    )
    assert result.returncode == 2
    assert_one_sentence(result.stderr, "the disk is full")
    assert list(full_disk.iterdir()) == []
    assert snapshot(workspace) == before


def test_a_twenty_thousand_pixel_square_png_is_refused_before_decoding(workspace: Path) -> None:
    big = np.zeros((20_000, 20_000), np.uint8)
    ok, encoded = cv2.imencode(".png", big, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    del big
    assert ok and len(encoded) < 1_000_000  # a small file that decodes to 400 MB
    for name in ("big-1.png", "big-2.png"):
        (workspace / name).write_bytes(encoded.tobytes())
    before = snapshot(workspace)
    result = run_mfif(["fuse", "big-1.png", "big-2.png", "-o", "o.png"], workspace)
    assert result.returncode == 2
    assert_one_sentence(result.stderr, "20000x20000 pixels")
    assert "MFIF_MAX_PIXELS" in result.stderr
    assert snapshot(workspace) == before


# --- cases that must succeed, and what they leave ----------------------------------------------


def _write_scene_frames(
    folder: Path, names: list[str], shape: tuple[int, int], *, seed: int
) -> None:
    """Frames of one noisy scene, each blurred differently (they register as a stack)."""
    rng = np.random.default_rng(seed)
    scene = rng.random((*shape, 3)).astype(np.float32)
    for k, name in enumerate(names):
        frame = cv2.GaussianBlur(scene, (0, 0), 0.5 + k) if k else scene
        mfif.save_image(folder / name, frame)


def _new_files(before: dict[str, str], root: Path) -> dict[str, str]:
    after = snapshot(root)
    for key, value in before.items():
        assert after.get(key) == value, f"{key} changed"
    return {key: value for key, value in after.items() if key not in before}


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_get_the_mode_the_umask_gives(workspace: Path, umask: int) -> None:
    before = snapshot(workspace)
    result = run_mfif(
        [*FUSE, "-o", "o.png", "--depth-index", "d.png", "--weights", "w"], workspace, umask=umask
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    created = _new_files(before, workspace)
    assert set(created) == {"o.png", "d.png", "w", "w/weights-00-A.png", "w/weights-01-B.png"}
    for name in ("o.png", "d.png", "w/weights-00-A.png", "w/weights-01-B.png"):
        assert (workspace / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_replacing_an_output_keeps_its_mode(workspace: Path) -> None:
    target = workspace / "o.png"
    target.write_bytes(b"old")
    target.chmod(0o640)
    assert run_mfif([*FUSE, "-o", "o.png"], workspace).returncode == 0
    assert target.stat().st_mode & 0o777 == 0o640
    assert mfif.read_image(target)[0].shape == (HEIGHT, WIDTH, 3)


def test_a_long_legal_name_leaves_no_temporary_file(workspace: Path) -> None:
    name = "y" * 251 + ".png"  # 255 bytes: the longest legal name
    before = snapshot(workspace)
    result = run_mfif([*FUSE, "-o", name], workspace)
    assert result.returncode == 0, result.stderr
    assert set(_new_files(before, workspace)) == {name}


def test_float_tiff_in_float_tiff_out(workspace: Path) -> None:
    result = run_mfif(["fuse", "float-A.tif", "float-B.tif", "-o", "o.tif"], workspace)
    assert result.returncode == 0, result.stderr
    assert tifffile.imread(workspace / "o.tif").dtype == np.float32
    result = run_mfif(["fuse", "float-A.tif", "float-B.tif", "-o", "o.png"], workspace)
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(workspace / "o.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    result = run_mfif([*FUSE, "-o", "p.tif", "--bit-depth", "32"], workspace)
    assert result.returncode == 0, result.stderr
    assert tifffile.imread(workspace / "p.tif").dtype == np.float32


def test_truncated_jpeg_is_one_sentence_or_a_silent_success(workspace: Path) -> None:
    # libjpeg may decode what is there and warn on stderr; the user sees none of it.
    result = run_mfif(["fuse", "A.png", "truncated.jpg", "-o", "o.png"], workspace)
    if result.returncode == 0:
        assert result.stderr == ""
    else:
        assert result.returncode == 2
        assert_one_sentence(result.stderr, "not a readable")


def test_default_metrics_leave_out_what_is_undefined_in_one_line(workspace: Path) -> None:
    result = run_mfif(["metrics", "flat.png", "--sources", "flat.png", "flat2.png"], workspace)
    assert result.returncode == 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mfif: left out") and "NMI" in lines[0]
    assert "SF" in result.stdout


def test_a_checkpoint_that_runs_code_never_runs_it(workspace: Path) -> None:
    result = run_mfif(
        [
            "train",
            "udpnet",
            "--data",
            "train",
            "--checkpoint",
            "evil.ckpt",
            "--patch",
            "32",
            "--steps",
            "2",
        ],
        workspace,
    )
    assert result.returncode == 2
    assert not (workspace / "pwned").exists()


def test_an_unexpected_error_is_an_internal_error_not_a_bad_option(workspace: Path) -> None:
    # A TypeError raised inside a method is a bug: status 1, one sentence, no traceback.
    probe = (
        "import sys\n"
        "from mfif.methods.gff import GuidedFilterFuser\n"
        "def broken(self, frames, **options):\n"
        "    raise TypeError('unsupported operand')\n"
        "GuidedFilterFuser.fuse_frames = broken\n"
        "from mfif.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    before = snapshot(workspace)
    result = subprocess.run(
        [sys.executable, "-c", probe, *FUSE, "-o", "o.png", "-m", "gff"],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" in lines[0] and "option" not in lines[0].lower()
    assert "Traceback" not in result.stderr
    assert snapshot(workspace) == before


# --- interrupts -------------------------------------------------------------------------------


def _run_with_patch(patch: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    probe = f"import sys\n{patch}\nfrom mfif.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run(
        [sys.executable, "-c", probe, *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "patch",
    [
        # Ctrl-C while the second output's bytes are written.
        "import mfif.outputs as o\n"
        "real = o.OutputSet.write_bytes\n"
        "calls = []\n"
        "def write(self, target, payload):\n"
        "    calls.append(target)\n"
        "    if len(calls) == 2:\n"
        "        raise KeyboardInterrupt\n"
        "    real(self, target, payload)\n"
        "o.OutputSet.write_bytes = write\n",
        # Ctrl-C after the first output was renamed into place.
        "import os\n"
        "real = os.replace\n"
        "calls = []\n"
        "def replace(a, b):\n"
        "    calls.append(b)\n"
        "    if len(calls) == 2:\n"
        "        raise KeyboardInterrupt\n"
        "    real(a, b)\n"
        "os.replace = replace\n",
        # Ctrl-C while fusing.
        "from mfif.methods.guided_decision import GuidedDecisionFuser as F\n"
        "def stop(self, *arguments, **options):\n"
        "    raise KeyboardInterrupt\n"
        "F.stream_weights = stop\n",
    ],
    ids=["while-writing", "between-renames", "while-fusing"],
)
def test_interrupt_leaves_nothing(workspace: Path, patch: str) -> None:
    before = snapshot(workspace)
    result = _run_with_patch(patch, [*FUSE, "-o", "o.png", "--depth-index", "d.png"], workspace)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip() == "mfif: interrupted"
    assert snapshot(workspace) == before


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("delay", [0.8, 1.6, 2.4])
def test_a_real_signal_leaves_all_outputs_or_none(
    workspace: Path, signal_number: int, delay: float
) -> None:
    _write_scene_frames(workspace, [f"big-{k}.png" for k in range(6)], (1500, 2000), seed=3)
    before = snapshot(workspace)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mfif",
            "fuse",
            *(f"big-{k}.png" for k in range(6)),
            "-o",
            "o.png",
            "--depth-index",
            "d.png",
            "--weights",
            "w",
        ],
        cwd=workspace,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    created = _new_files(before, workspace)
    expected = {0, 130 if signal_number == signal.SIGINT else 143, -signal_number}
    assert process.returncode in expected, stderr
    assert "Traceback" not in stderr
    # All or none: a signal after the outputs were committed may still end the process.
    if created:
        assert {"o.png", "d.png", "w"} <= set(created), created
        assert len([c for c in created if c.startswith("w/")]) == 6, created
        assert not any(".part" in c or ".mfif-" in c for c in created), created
    else:
        assert process.returncode != 0


# --- the Python API -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (
            lambda d: mfif.save_image(d / "o.tif", np.zeros((8, 8, 5), np.float32)),
            OutputError,
            "(8, 8, 5)",
        ),
        (
            lambda d: mfif.save_image(d / "o.png", np.zeros((8, 8, 2), np.uint8)),
            OutputError,
            "shape",
        ),
        (
            lambda d: mfif.save_image(d / "o.png", np.zeros((0, 8), np.float32)),
            OutputError,
            "empty",
        ),
        (
            lambda d: mfif.save_image(d / "o.png", np.full((4, 4), np.nan, np.float32)),
            StackError,
            "NaN",
        ),
        (
            lambda d: mfif.save_image(d / "o.png", np.full((4, 4), 3.0)),
            StackError,
            "outside [0, 1]",
        ),
        (lambda d: mfif.save_image(d / "o.png", np.zeros((4, 4), np.int64)), OutputError, "int64"),
        (
            lambda d: mfif.save_image(d / "o.jpg", np.zeros((4, 4)), bit_depth=16),
            OutputError,
            "16-bit",
        ),
        (
            lambda d: mfif.save_image(d / "o.webp", np.zeros((4, 4))),
            OutputError,
            "must end in one of",
        ),
        (lambda d: mfif.fuse([np.zeros((0, 0)), np.zeros((0, 0))]), StackError, "empty"),
        (lambda d: mfif.fuse([np.zeros((0, 5, 3)), np.zeros((0, 5, 3))]), StackError, "empty"),
        (lambda d: mfif.fuse([np.zeros((4, 4))]), StackError, "at least 2"),
        (lambda d: mfif.fuse([np.zeros((4, 4)), np.zeros((5, 4))]), StackError, "same size"),
        (lambda d: mfif.fuse([np.full((4, 4), 4000.0)] * 2), StackError, "scale them"),
        (lambda d: mfif.fuse([np.full((4, 4), np.inf)] * 2), StackError, "infinite"),
        (lambda d: mfif.fuse([np.zeros((4, 4), np.int32)] * 2), StackError, "int32"),
        (lambda d: mfif.fuse([np.zeros((4, 4, 4))] * 2), StackError, "shape"),
        (lambda d: mfif.fuse(np.zeros((2, 4))), StackError, "(N, H, W)"),
        (lambda d: mfif.fuse([np.zeros((4, 4))] * 2, method="nope"), MfifError, "Unknown method"),
        (lambda d: mfif.fuse(None), StackError, "got NoneType"),
        (lambda d: mfif.fuse([1, 2]), StackError, "mixing other things"),
        (lambda d: mfif.fuse([]), StackError, "got none"),
        (lambda d: mfif.create("udpnet-paper", weights=123), OptionError, "a file path"),
        (
            lambda d: mfif.create("ufa-fuse", weights="ufa_fuse.nope"),
            MfifError,
            "no shipped weights of that name (shipped: ufa_fuse.cpu",
        ),
        (
            lambda d: mfif.create("udpnet", weights="ufa_fuse.cpu"),
            MfifError,
            "are another network's; this method's: udpnet.mfif",
        ),
        (
            lambda d: mfif.create("ufa-fuse", weights=str(weights_file("udpnet.mfif")[0])),
            MfifError,
            "holds no UFA-Fuse model",
        ),
        (lambda d: mfif.create("laplacian-pyramid", levels=True), OptionError, "got True"),
        (lambda d: mfif.create("gff", base_radius=-5), OptionError, "base_radius"),
        (lambda d: mfif.create("gff", base_radius="5"), OptionError, "got '5'"),
        (lambda d: mfif.create("guided-decision", sigma=float("nan")), OptionError, "sigma"),
        (lambda d: mfif.create("dwt", colour=1), OptionError, "has no option"),
        (lambda d: mfif.load_stack([d / "nope.png", d / "nope.png"]), MfifError, "does not exist"),
    ],
)
def test_api_raises_mfif_errors(tmp_path: Path, call, error, fragment: str) -> None:
    with pytest.raises(error) as raised:
        call(tmp_path)
    assert fragment in str(raised.value)
    assert list(tmp_path.iterdir()) == []
