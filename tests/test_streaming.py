"""Fusion that streams over the frames of a stack gives the in-memory result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import mfif
from mfif.decision import GuidedFilter, guided_filter, majority_vote
from mfif.frames import FrameStore, ScratchSpaceError
from mfif.methods import guided_decision
from mfif.stack import Stack, to_unit_float


class CountingFrames:
    """A sequence of frames that records how often each one is read."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self.reads = [0] * len(images)
        self.shape = images.shape

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> np.ndarray:
        self.reads[index] += 1
        return self.images[index].copy()


def band_stack(count: int, channels: int, height: int = 150, width: int = 240) -> Stack:
    """Each source sharp in one vertical band, blurred elsewhere."""
    rng = np.random.default_rng(count * 10 + channels)
    sharp = cv2.GaussianBlur(rng.random((height, width, channels), dtype=np.float32), (0, 0), 1)
    sharp = sharp.reshape(height, width, channels)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3).reshape(height, width, channels)
    band = np.arange(width) * count // width
    images = [np.where((band == k)[None, :, None], sharp, blurred) for k in range(count)]
    return Stack(images=np.stack(images).astype(np.float32))


@pytest.mark.parametrize(("count", "channels"), [(2, 3), (3, 1), (6, 3)])
@pytest.mark.parametrize(
    ("method", "cache"),
    [
        ("guided-decision", True),
        ("guided-decision", False),
        ("maxgrad", True),
        ("sf", True),
        ("laplacian-pyramid", True),
        ("dwt", True),
        ("gff", True),
    ],
)
def test_streamed_fusion_equals_in_memory(method, count, channels, cache, monkeypatch):
    if not cache:
        monkeypatch.setattr(guided_decision, "_CACHE_BYTES", 0)
    stack = band_stack(count, channels)
    stack.images[:, :8] = 0.5  # a flat strip: every source ties there
    fuser = mfif.create(method)
    whole = fuser.fuse(stack)
    frames = CountingFrames(stack.images)
    streamed = fuser.fuse_frames(frames)
    np.testing.assert_allclose(streamed.image, whole.image, atol=1e-6)
    np.testing.assert_array_equal(streamed.weights, whole.weights)
    # Each frame is read for the focus measure, and for the blend only where it wins somewhere
    # (gff: once more, for the totals of its two weights).
    assert max(frames.reads) <= (3 if method == "gff" else 2)
    lean = fuser.fuse_frames(stack.images, keep_weights=False)
    assert lean.weights is None
    np.testing.assert_array_equal(lean.image, streamed.image)


def test_a_frame_that_wins_nowhere_is_not_blended():
    stack = band_stack(3, 3)
    blurred_everywhere = cv2.GaussianBlur(stack.images[0], (0, 0), 4)
    images = np.concatenate([blurred_everywhere[None], stack.images])
    frames = CountingFrames(images)
    fused = mfif.create("guided-decision").fuse_frames(frames)
    assert fused.weights[0].max() == 0
    assert frames.reads[0] == 1  # the focus measure only


def test_prepared_guided_filter_equals_the_function():
    rng = np.random.default_rng(3)
    guide = rng.random((90, 70), dtype=np.float32)
    planes = rng.random((3, 90, 70), dtype=np.float32)
    for subsample in (1, 2):
        prepared = GuidedFilter(guide, radius=4, eps=1e-3, subsample=subsample)
        expected = guided_filter(guide, planes, radius=4, eps=1e-3, subsample=subsample)
        for plane, want in zip(planes, expected, strict=True):
            np.testing.assert_array_equal(prepared(plane), want)


def test_majority_vote_takes_the_most_frequent_label_first_on_ties():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, (40, 50)).astype(np.int32)
    votes = np.stack(
        [
            cv2.boxFilter(
                (labels == k).astype(np.uint8), cv2.CV_32F, (5, 5), borderType=cv2.BORDER_REFLECT
            )
            for k in range(4)
        ]
    )
    np.testing.assert_array_equal(majority_vote(labels, 4, window=5), votes.argmax(axis=0))


@pytest.mark.parametrize(("bit_depth", "dtype"), [(8, np.uint8), (16, np.uint16), (32, np.float32)])
def test_frame_store_gives_back_what_was_written(tmp_path, bit_depth, dtype):
    rng = np.random.default_rng(bit_depth)
    if dtype == np.float32:
        frames = rng.random((3, 20, 30, 3), dtype=np.float32)
    else:
        frames = rng.integers(0, np.iinfo(dtype).max + 1, (3, 20, 30, 3)).astype(dtype)
    with FrameStore(3, 20, 30, 3, bit_depth=bit_depth, directory=tmp_path) as store:
        for k in (2, 0, 1):  # any order
            store.write(k, frames[k])
        assert len(store) == 3 and store.shape == (3, 20, 30, 3)
        for k in range(3):
            np.testing.assert_array_equal(store.read(k), frames[k])
            np.testing.assert_array_equal(store[k], to_unit_float(frames[k], "x"))
    assert list(tmp_path.iterdir()) == []  # nothing left behind, ever


def test_frame_store_rounds_float_frames_to_its_type(tmp_path):
    frame = np.array([[0.0, 0.5, 1.0, 1.2]], np.float32)[..., None]
    with FrameStore(2, 1, 4, 1, bit_depth=8, directory=tmp_path) as store:
        store.write(0, frame)
        np.testing.assert_array_equal(store.read(0)[..., 0], [[0, 128, 255, 255]])
        with pytest.raises(IndexError):
            store.read(1)  # never written


def test_frame_store_refuses_a_folder_it_cannot_use(tmp_path):
    with pytest.raises(ScratchSpaceError, match="MFIF_SCRATCH"):
        FrameStore(2, 4, 4, 1, directory=tmp_path / "missing")
    with pytest.raises(ScratchSpaceError, match="GiB"):
        FrameStore(10**6, 10**4, 10**4, 3, directory=tmp_path)


def test_streamed_fusion_from_a_frame_store(tmp_path):
    stack = band_stack(4, 3)
    with FrameStore(4, *stack.shape, 3, bit_depth=32, directory=tmp_path) as store:
        for k, image in enumerate(stack.images):
            store.write(k, image)
        streamed = mfif.create("guided-decision").fuse_frames(store, keep_weights=False)
    whole = mfif.create("guided-decision").fuse(stack)
    np.testing.assert_allclose(streamed.image, whole.image, atol=1e-6)


def run_fuse(*args: str, stream: bool) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    environment["MFIF_STREAM_ABOVE"] = "0" if stream else str(2**62)
    return subprocess.run(
        [sys.executable, "-m", "mfif", "fuse", *args],
        capture_output=True,
        text=True,
        env=environment,
    )


@pytest.mark.parametrize("moved", [False, True])
def test_mfif_fuse_from_disk_equals_in_memory(tmp_path, moved):
    """Large stacks are fused from disk; forced here on a small one, aligned or not. Frames
    that are not moved give the same bytes; moved ones are resampled from disk a region at a
    time, which rounds the sample coordinates differently: a level at most, on few samples."""
    from test_align import misaligned_stack, motion

    motions = [motion(1, 0, (0, 0))] * 3
    if moved:
        motions = [motion(1.01, 0.3, (2.5, -1.5)), motion(1, 0, (0, 0)), motion(0.99, 0, (-2, 1))]
    stack, _ = misaligned_stack(motions)
    paths = [mfif.save_image(tmp_path / f"{k}.png", image) for k, image in enumerate(stack.images)]
    outputs = {}
    for stream in (False, True):
        report = tmp_path / f"report-{stream}.json"
        output = tmp_path / f"fused-{stream}.png"
        result = run_fuse(
            *map(str, paths), "-o", str(output), "--report", str(report), stream=stream
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(report.read_text()).get("streamed", False) == stream
        outputs[stream] = mfif.load_stack([output, output]).images[0]
    assert outputs[True].shape == outputs[False].shape
    if not moved:
        np.testing.assert_array_equal(outputs[True], outputs[False])
    else:
        difference = np.abs(outputs[True] - outputs[False])
        assert difference.max() <= 1 / 255 + 1e-6
        assert np.mean(difference > 0) < 1e-3
    assert not list(tmp_path.glob("tmp*"))


def test_a_bad_frame_in_a_streamed_stack_is_one_sentence(tmp_path):
    stack = band_stack(3, 3)
    paths = [mfif.save_image(tmp_path / f"{k}.png", image) for k, image in enumerate(stack.images)]
    paths[1].write_bytes(b"not an image")
    result = run_fuse(*map(str, paths), "-o", str(tmp_path / "out.png"), stream=True)
    assert result.returncode != 0
    assert "1.png" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_fuse_to_file_streams_and_writes_what_the_cli_writes(tmp_path, monkeypatch):
    stack = band_stack(3, 3)
    paths = [mfif.save_image(tmp_path / f"{k}.png", image) for k, image in enumerate(stack.images)]
    monkeypatch.setenv("MFIF_STREAM_ABOVE", "0")
    result = mfif.fuse_to_file(paths, tmp_path / "api.png", method="laplacian-pyramid")
    assert result.streamed and result.fusion.weights is None and len(result.names) == 3
    cli = run_fuse(*map(str, paths), "-o", str(tmp_path / "cli.png"), "-m", "laplacian-pyramid",
                   stream=True)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "api.png").read_bytes() == (tmp_path / "cli.png").read_bytes()
    monkeypatch.setenv("MFIF_STREAM_ABOVE", str(2**62))
    in_memory = mfif.fuse_to_file(paths, tmp_path / "memory.png", method="laplacian-pyramid")
    assert not in_memory.streamed
    np.testing.assert_array_equal(
        mfif.read_image(tmp_path / "memory.png")[0], mfif.read_image(tmp_path / "api.png")[0]
    )


@pytest.mark.parametrize("method", ["guided-decision", "gff"])
def test_weights_and_depth_stream_too(tmp_path, method):
    """--weights and --depth from disk: each map written as it is made, the depth from a
    running winner; the same files as in memory."""
    stack = band_stack(4, 3)
    paths = [mfif.save_image(tmp_path / f"{k}.png", image) for k, image in enumerate(stack.images)]
    files = {}
    for stream in (False, True):
        folder = tmp_path / f"maps-{stream}"
        result = run_fuse(
            *map(str, paths), "-o", str(folder / "fused.png"), "-m", method,
            "--weights", str(folder / "weights"), "--depth", str(folder / "depth.png"),
            "--report", str(folder / "report.json"), stream=stream,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads((folder / "report.json").read_text()).get("streamed", False) == stream
        files[stream] = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.png")}
    assert sorted(files[True]) == sorted(files[False])
    assert len([name for name in files[True] if name.parts[0] == "weights"]) == 4
    depth_memory = cv2.imdecode(np.frombuffer(files[False][Path("depth.png")], np.uint8), -1)
    depth_disk = cv2.imdecode(np.frombuffer(files[True][Path("depth.png")], np.uint8), -1)
    assert np.mean(depth_memory == depth_disk) > 0.999  # ties may differ within rounding
    for name, data in files[True].items():
        if name.parts[0] == "weights":
            memory = cv2.imdecode(np.frombuffer(files[False][name], np.uint8), -1).astype(int)
            disk = cv2.imdecode(np.frombuffer(data, np.uint8), -1).astype(int)
            assert np.abs(memory - disk).max() <= 1
