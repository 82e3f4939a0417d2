"""Frame sources: in memory, in a scratch file, a selection, read ahead; one interface."""

from __future__ import annotations

import numpy as np
import pytest

from mfif.frames import ArrayFrames, FrameSource, ReadAhead, SelectedFrames
from mfif.scratch import FrameStore, ScratchSpaceError
from mfif.stack import Stack, to_unit_float


def random_stack(count: int = 3, channels: int = 3) -> Stack:
    rng = np.random.default_rng(count + channels)
    return Stack(images=rng.random((count, 20, 30, channels), dtype=np.float32), bit_depth=16)


def stored(stack: Stack, folder) -> FrameStore:
    store = FrameStore(*stack.images.shape, bit_depth=32, directory=folder, names=stack.names)
    for k, image in enumerate(stack.images):
        store.write(k, image)
    return store


@pytest.mark.parametrize("kind", ["memory", "disk", "selected", "read-ahead"])
def test_every_source_reads_the_same_frames(tmp_path, kind):
    stack = random_stack()
    source: FrameSource = ArrayFrames(stack) if kind == "memory" else stored(stack, tmp_path)
    images = stack.images
    if kind == "selected":
        source, images = SelectedFrames(source, [2, 0]), images[[2, 0]]
    if kind == "read-ahead":
        source = ReadAhead(source)
    with source:
        assert source.shape == images.shape and len(source) == len(images)
        assert source.size == images.shape[1:3]
        for k in range(len(images)):
            np.testing.assert_array_equal(source[k], images[k])
            np.testing.assert_array_equal(source.rows(k, 3, 9), images[k][3:9])
            box = (slice(2, 7), slice(4, 20))
            np.testing.assert_array_equal(source.region(k, *box), images[k][box])
            luma = images[k] @ np.array([0.299, 0.587, 0.114], np.float32)
            np.testing.assert_allclose(source.luminance(k), luma, atol=1e-6)
        np.testing.assert_array_equal(source.materialise().images, images)
    assert (source.array is not None) == (kind == "memory")


def test_materialise_of_memory_frames_is_the_stack_itself():
    stack = random_stack()
    assert ArrayFrames(stack).materialise() is stack


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
            np.testing.assert_array_equal(store.samples(k), frames[k])
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
