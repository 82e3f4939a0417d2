"""`Fuser.fuse_frames`: methods read frames one at a time, as few times as they must, and
give the in-memory result; from the command line a large stack is fused from disk."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import mfif
from mfif.frames import ArrayFrames
from mfif.methods import guided_decision
from mfif.scratch import FrameStore
from mfif.stack import Stack

from conftest import CountingFrames


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
    if fuser.produces_weights:
        np.testing.assert_array_equal(streamed.weights, whole.weights)
    else:
        assert streamed.weights is None and whole.weights is None
    # Each frame is read for the focus measure, and for the blend only where it wins somewhere
    # (gff: its luminance three times, for the winner, the weights' totals and the blend).
    assert max(frames.reads) <= (4 if method == "gff" else 2)
    lean = fuser.fuse_frames(ArrayFrames(stack), keep_weights=False)
    assert lean.weights is None
    np.testing.assert_array_equal(lean.image, whole.image)
    if fuser.produces_weights:
        reported = {}
        fuser.fuse_frames(CountingFrames(stack.images), on_weights=reported.__setitem__)
        np.testing.assert_array_equal(np.stack([reported[k] for k in range(count)]), whole.weights)


def test_a_large_stack_weighs_small_regions_without_reading_a_frame_again(monkeypatch):
    """A small, clearly sharp region (kept by ``keep_ratio``) in a stack too large to cache its
    maps in memory: the same decision, each frame read at most twice (the focus maps wait on
    disk)."""
    rng = np.random.default_rng(5)
    sharp = cv2.GaussianBlur(rng.random((320, 400, 3), dtype=np.float32), (0, 0), 1)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    spot = np.zeros((320, 400, 1), bool)
    spot[160:174, 200:214] = True  # 0.15 % of the image: a region small-region removal takes
    images = np.stack([np.where(spot, blurred, sharp), np.where(spot, sharp, blurred)])
    fuser = mfif.create("guided-decision")
    cached = fuser.fuse(Stack(images=images))
    assert cached.weights[1][spot[..., 0]].mean() > 0.5  # kept: it is clearly sharp
    monkeypatch.setattr(guided_decision, "_CACHE_BYTES", 0)
    frames = CountingFrames(images)
    on_disk = fuser.fuse_frames(frames)
    # The same decision; the guide kept on disk to 16 bits moves the refined weights by ~1e-5.
    np.testing.assert_allclose(on_disk.weights, cached.weights, atol=1e-4)
    assert max(frames.reads) <= 2


def test_a_frame_that_wins_nowhere_is_not_blended():
    stack = band_stack(3, 3)
    blurred_everywhere = cv2.GaussianBlur(stack.images[0], (0, 0), 4)
    images = np.concatenate([blurred_everywhere[None], stack.images])
    frames = CountingFrames(images)
    fused = mfif.create("guided-decision").fuse_frames(frames)
    assert fused.weights[0].max() == 0
    assert frames.reads[0] == 1  # the focus measure only


@pytest.mark.parametrize("band_rows", [None, 7])
def test_streamed_fusion_from_a_frame_store(tmp_path, monkeypatch, band_rows):
    """From a scratch file, the blend reads each frame's box in bands of rows (here also in
    bands of 7 full rows' bytes): the same sum as the whole stack's."""
    from mfif import fusion

    if band_rows is not None:
        monkeypatch.setattr(fusion, "_READ_BYTES", band_rows * 240 * 3 * 4)
    regions = []
    stack = band_stack(4, 3)
    with FrameStore(*stack.shape, bit_depth=32, directory=tmp_path) as store:
        for k, image in enumerate(stack.images):
            store.write(k, image)
        read = store.region
        monkeypatch.setattr(store, "region", lambda *a: regions.append(a[1]) or read(*a))
        streamed = mfif.create("guided-decision").fuse_frames(store, keep_weights=False)
    whole = mfif.create("guided-decision").fuse(stack)
    np.testing.assert_allclose(streamed.image, whole.image, atol=1e-6)
    if band_rows is not None:
        assert len(regions) > 2 * len(stack.images)  # bands, not one box per frame


def run_fuse(*args: str, stream: bool) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    environment["MFIF_STREAM_ABOVE"] = "0" if stream else str(2**62)
    return subprocess.run(
        [sys.executable, "-m", "mfif", "fuse", *args],
        capture_output=True,
        text=True,
        env=environment,
    )


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


def test_the_blend_reads_only_where_a_frame_weighs(tmp_path, monkeypatch):
    """A frame that weighs in two corners far apart is read there, not across the box that
    holds both, and the sum is the in-memory blend's."""
    from mfif.fusion import blend, blend_frames

    rng = np.random.default_rng(5)
    images = rng.random((2, 200, 400, 3), dtype=np.float32)
    second = np.zeros((200, 400), np.float32)
    second[:40, :50] = 0.7
    second[160:, 330:] = 1.0
    weights = np.stack([1 - second, second])
    read = []
    with FrameStore(2, 200, 400, 3, bit_depth=32, directory=tmp_path) as store:
        for k, image in enumerate(images):
            store.write(k, image)
        region = store.region
        monkeypatch.setattr(
            store,
            "region",
            lambda k, rows, columns: read.append((k, rows, columns)) or region(k, rows, columns),
        )
        streamed = blend_frames(store, list(weights), keep_weights=False)
    area = sum((r.stop - r.start) * (c.stop - c.start) for k, r, c in read if k == 1)
    assert area == 40 * 50 + 40 * 70
    np.testing.assert_allclose(streamed.image, blend(images, weights), atol=1e-6)
