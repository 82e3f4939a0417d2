"""JPEG and uncompressed TIFF stacks fused from disk are read from their own files (JPEG
decoded again at every read, TIFF samples where they lie) instead of being copied to a
scratch file: the same samples, the same fused files."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import tifffile

import mfif
from mfif.errors import OptionError, StackError
from mfif.file_frames import FileFrames, TiffFrames
from mfif.io import load_frames
from mfif.pipeline import Pipeline
from mfif.scratch import FrameStore
from test_pipeline import frames_on_disk, written


def jpeg_stack(folder, count: int = 3, grey: bool = False) -> list:
    rng = np.random.default_rng(count)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        image = cv2.GaussianBlur(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8), (0, 0), k + 1)
        path = folder / f"{k}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if grey else image)
        paths.append(path)
    return paths


@pytest.mark.parametrize("grey", [False, True], ids=["colour", "grey"])
@pytest.mark.parametrize("storage", ["disk", "samples"])
def test_jpeg_frames_read_again_or_kept_as_decoded_read_as_in_memory(tmp_path, grey, storage):
    """From the files again ("disk") or kept as decoded ("samples", a quarter of a float32
    stack's memory): the same reads as the float32 stack in memory."""
    from mfif.frames import DecodedFrames

    paths = jpeg_stack(tmp_path, grey=grey)
    with load_frames(paths) as memory, load_frames(paths, storage=storage) as files:
        assert isinstance(files, FileFrames if storage == "disk" else DecodedFrames)
        assert files.shape == memory.shape and files.names == memory.names
        assert files.bit_depth == memory.bit_depth == 8
        assert files.samples(0).dtype == np.uint8
        box = (slice(3, 17), slice(5, 40))
        for k in range(len(paths)):
            np.testing.assert_array_equal(files[k], memory[k])
            np.testing.assert_array_equal(files.region(k, *box), memory[k][box])
            np.testing.assert_array_equal(files.rows(k, 2, 9), memory[k][2:9])
            np.testing.assert_allclose(files.luminance(k), memory.luminance(k), atol=1e-6)
            weights = (0.2, 0.3, 0.5)[: files.shape[3]]
            np.testing.assert_allclose(
                files.weighted_sum(k, weights), memory.weighted_sum(k, weights), atol=1e-6
            )
            if storage == "disk":
                assert not files.samples(k).flags.writeable  # the kept decode is shared


def test_a_method_reading_frames_in_parts_keeps_them_as_decoded(tmp_path, monkeypatch):
    """Weighted methods read each frame a few times, in tiles: the pipeline keeps the frames
    as decoded; a pyramid method gets one float32 stack."""
    from mfif import pipeline as pipeline_module

    paths = jpeg_stack(tmp_path, grey=False)
    import mfif.io

    storages = []
    load = getattr(pipeline_module, "load_frames", None)

    original = mfif.io.load_frames
    monkeypatch.setattr(
        mfif.io, "load_frames", lambda *a, **k: storages.append(k["storage"]) or original(*a, **k)
    )
    assert load is None  # imported where it is used, so the patch above is seen
    memory = {}
    for method in ("guided-decision", "laplacian-pyramid"):
        with Pipeline(method, storage="memory", align="none").run(paths) as result:
            memory[method] = result.fusion.image
    assert storages == ["samples", "memory"]
    stack = load_frames(paths).materialise()
    np.testing.assert_array_equal(memory["guided-decision"], mfif.fuse(stack, align="none").image)


def test_rows_of_one_frame_decode_it_once(tmp_path):
    paths = jpeg_stack(tmp_path)
    calls = []

    def decode(path):
        calls.append(path.name)
        return cv2.imread(str(path))[..., ::-1]

    frames = FileFrames(paths, (3, 40, 56, 3), decode)
    for start in range(0, 40, 8):
        frames.rows(1, start, start + 8)
    frames.region(2, slice(0, 5), slice(0, 5))
    frames.rows(1, 0, 4)
    assert calls == ["1.jpg", "2.jpg"]
    frames.rows(0, 0, 4)  # a third frame: the decode read longest ago (2) goes
    frames.rows(1, 0, 4)
    frames.rows(2, 0, 4)
    assert calls == ["1.jpg", "2.jpg", "0.jpg", "2.jpg"]


def test_a_file_changed_while_fusing_is_reported(tmp_path):
    paths = jpeg_stack(tmp_path)
    with load_frames(paths, storage="disk") as frames:
        cv2.imwrite(str(paths[1]), np.zeros((40, 56, 3), np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 5])
        os.utime(paths[1], ns=(0, 0))
        with pytest.raises(StackError, match="1.jpg changed while the stack was being fused"):
            frames[1]


def test_other_formats_and_the_choice_of_scratch_are_copied(tmp_path, monkeypatch):
    pngs = frames_on_disk(tmp_path / "png", moved=False)
    with load_frames(pngs, storage="disk") as frames:
        assert isinstance(frames, FrameStore)
    with pytest.raises(ValueError, match="JPEG and uncompressed TIFF files only"):
        load_frames(pngs, storage="files")
    jpegs = jpeg_stack(tmp_path / "jpg")
    monkeypatch.setenv("MFIF_DISK_FRAMES", "scratch")
    with load_frames(jpegs, storage="disk") as frames, load_frames(jpegs) as memory:
        assert isinstance(frames, FrameStore)
        np.testing.assert_array_equal(frames[2], memory[2])
    monkeypatch.setenv("MFIF_DISK_FRAMES", "copies")
    with pytest.raises(OptionError, match="MFIF_DISK_FRAMES must be 'files' or 'scratch'"):
        load_frames(jpegs, storage="disk")


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
@pytest.mark.parametrize(
    ("method", "options"),
    [("guided-decision", {}), ("guided-decision", {"crop": False}), ("laplacian-pyramid", {})],
    ids=["guided-decision", "guided-decision-no-crop", "laplacian-pyramid"],
)
def test_a_stack_fuses_to_the_same_files_from_memory_and_from_its_files(
    tmp_path, method, options, suffix
):
    paths = []
    for path in frames_on_disk(tmp_path / "png", moved=True):
        paths.append(tmp_path / "in" / f"{path.stem}{suffix}")
        paths[-1].parent.mkdir(exist_ok=True)
        image = cv2.imread(str(path))
        if suffix == ".tif":  # uncompressed (OpenCV writes LZW)
            tifffile.imwrite(paths[-1], image[..., ::-1], photometric="rgb")
        else:
            cv2.imwrite(str(paths[-1]), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    with load_frames(paths, storage="disk") as frames:
        assert isinstance(frames, FileFrames if suffix == ".jpg" else TiffFrames)

    runs = {}
    for storage in ("memory", "disk"):
        folder = tmp_path / storage
        runs[storage] = written(
            Pipeline(method, storage=storage, **options), paths, folder,
            depth=folder / "depth.tif", aligned=folder / "aligned",
        )  # fmt: skip
    assert runs["memory"].pop("storage") == "memory" and runs["disk"].pop("storage") == "disk"
    assert runs["disk"] == runs["memory"]


def test_a_method_that_rereads_frames_gets_a_scratch_copy(tmp_path):
    """Networks read every frame once per block: decoding each time would cost more."""
    from mfif.methods import method_class

    class BlockReader(method_class("sf")):
        rereads_frames = True

    paths = jpeg_stack(tmp_path)
    for fuser, kind in ((mfif.create("sf"), FileFrames), (BlockReader(), FrameStore)):
        pipeline = Pipeline(fuser, storage="disk")
        with pipeline._load(paths, paths, "disk", progress=False) as frames:
            assert isinstance(frames, kind)
    assert method_class("msa-siamese").rereads_frames and not method_class("sf").rereads_frames


def test_a_prefetched_frame_is_decoded_once_on_a_thread(tmp_path):
    import threading

    paths = jpeg_stack(tmp_path)
    threads = []

    def decode(path):
        threads.append(threading.current_thread().name)
        return cv2.imread(str(path))[..., ::-1]

    with FileFrames(paths, (3, 40, 56, 3), decode) as frames:
        frames.prefetch(1)
        frames.prefetch(1)  # already on its way
        np.testing.assert_array_equal(frames.read(1), cv2.imread(str(paths[1]))[..., ::-1])
        frames.prefetch(1)  # kept: nothing to do
        frames.read(1)
        frames.prefetch(7)  # beyond the stack: ignored
    assert len(threads) == 1 and threads[0].startswith("mfif-decode")


def test_a_prefetched_frame_never_read_is_not_kept(tmp_path):
    """The blend prefetches the next frame, which may win nowhere and never be read."""
    paths = jpeg_stack(tmp_path, count=4)
    with FileFrames(paths, (4, 40, 56, 3), lambda p: cv2.imread(str(p))[..., ::-1]) as frames:
        for k in range(4):
            frames.prefetch(k)
        assert list(frames._pending) == [2, 3]


def test_each_frame_is_decoded_once_when_the_next_is_asked_for_before_this_one_is_read(
    tmp_path,
):
    """The blend's order: prefetch(k + 1), then read(k). Asking for frame k + 1 used to drop
    frame k's decode in flight, so every frame was decoded twice (24 MP x 30: 50 decodes of
    0.1-0.2 s for 30 frames)."""
    paths = jpeg_stack(tmp_path, count=4)
    decoded = []

    def decode(path):
        decoded.append(path)
        return cv2.imread(str(path))[..., ::-1]

    with FileFrames(paths, (4, 40, 56, 3), decode) as frames:
        frames.prefetch(0)
        for k in range(4):
            if k + 1 < 4:
                frames.prefetch(k + 1)
            frames.read(k)
    assert sorted(decoded) == sorted(paths)


def tiff_stack(folder, dtype=np.uint16, channels: int = 3, **options) -> tuple[list, np.ndarray]:
    rng = np.random.default_rng(channels)
    top = np.iinfo(dtype).max
    shape = (3, 24, 32, channels) if channels > 1 else (3, 24, 32)
    images = (rng.random(shape) * top).astype(dtype)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, image in enumerate(images):
        paths.append(folder / f"{k}.tif")
        photometric = "rgb" if channels == 3 else "minisblack"
        tifffile.imwrite(paths[-1], image, photometric=photometric, **options)
    return paths, images.reshape(3, 24, 32, channels)


@pytest.mark.parametrize(
    ("dtype", "channels", "rows_per_strip"),
    [(np.uint16, 3, None), (np.uint8, 1, None), (np.uint16, 3, 5)],
    ids=["16-bit-rgb", "8-bit-grey", "strips"],
)
def test_uncompressed_tiff_frames_are_read_where_they_lie(
    tmp_path, dtype, channels, rows_per_strip
):
    """Their samples are on disk as a scratch file would hold them: read in place."""
    options = {"rowsperstrip": rows_per_strip} if rows_per_strip else {}
    paths, images = tiff_stack(tmp_path, dtype, channels, **options)
    with load_frames(paths, storage="disk") as frames, load_frames(paths) as memory:
        assert isinstance(frames, TiffFrames) and frames.bit_depth == 8 * np.dtype(dtype).itemsize
        for k, image in enumerate(images):
            np.testing.assert_array_equal(frames.samples(k), image)
            np.testing.assert_array_equal(frames.rows(k, 3, 11), memory[k][3:11])
            np.testing.assert_array_equal(frames[k], memory[k])


@pytest.mark.parametrize(
    "options",
    [{"compression": "zlib"}, {"byteorder": ">"}, {"planarconfig": "separate"}, {"tile": (16, 16)}],
    ids=["compressed", "big-endian", "planar", "tiled"],
)
def test_other_tiffs_are_copied_to_scratch(tmp_path, options):
    paths, images = tiff_stack(tmp_path, np.uint16, 3, **options)
    with load_frames(paths, storage="disk") as frames:
        assert isinstance(frames, FrameStore)
        np.testing.assert_array_equal(frames.samples(1), images[1])


def test_a_tiff_changed_while_fusing_is_reported(tmp_path):
    paths, _ = tiff_stack(tmp_path)
    with load_frames(paths, storage="disk") as frames:
        paths[2].write_bytes(paths[2].read_bytes()[:1000])
        with pytest.raises(StackError, match="2.tif changed while the stack was being fused"):
            frames.rows(2, 0, 4)


def large_jpeg_stack(folder, grey: bool = False) -> list:
    """Three JPEG frames of 2048 x 96, the third moved by (1.5, -0.5) px: wide enough that
    registration's summary is decoded at half size (`mfif.summaries.summary_reduction`)."""
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.random((96, 2048), dtype=np.float32), (0, 0), 2) * 4 - 1.5
    base = np.clip(texture * 128 + 128, 0, 255).astype(np.uint8)
    moved = cv2.warpAffine(base, np.float32([[1, 0, 1.5], [0, 1, -0.5]]), (2048, 96))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, image in enumerate([base, base, moved]):
        path = folder / f"{k}.jpg"
        colour = cv2.merge([image, image // 2 + 60, 255 - image])
        cv2.imwrite(str(path), image if grey else colour, [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(path)
    return paths


@pytest.mark.parametrize("grey", [False, True], ids=["colour", "grey"])
def test_large_jpeg_frames_are_summarised_from_a_smaller_decode(tmp_path, monkeypatch, grey):
    """From disk, a JPEG frame of 2048 px or more is not decoded whole for registration: its
    summary comes from a DCT-scaled decode, the same on both storages, and agrees with the
    summary of the whole frame (shapes equal, planes within JPEG's block averages)."""
    from mfif import io
    from mfif.summaries import frame_summary, summary_reduction

    paths = large_jpeg_stack(tmp_path / "in", grey)
    assert summary_reduction(96, 2048) == 2
    whole_decodes = []
    original = io._read_pages
    monkeypatch.setattr(
        io, "_read_pages", lambda *a, **k: whole_decodes.append(1) or original(*a, **k)
    )
    summaries = {}
    for storage in ("files", "memory"):
        whole_decodes.clear()
        with load_frames(
            paths, storage=storage, summarise=frame_summary, summary_reduction=summary_reduction
        ) as frames:
            summaries[storage] = frames.summaries
            assert len(whole_decodes) == (0 if storage == "files" else 3)
            whole = frame_summary(frames.samples(2))
    for disk, memory in zip(summaries["files"], summaries["memory"], strict=True):
        np.testing.assert_array_equal(disk.plane, memory.plane)
        np.testing.assert_array_equal(disk.thumbnail, memory.thumbnail)
    reduced = summaries["files"][2]
    assert reduced.plane.shape == whole.plane.shape and reduced.scale == whole.scale
    assert reduced.thumbnail.shape == whole.thumbnail.shape
    assert np.abs(reduced.plane - whole.plane).mean() < 0.01


def test_large_jpeg_frames_register_and_fuse_the_same_from_memory_and_disk(tmp_path):
    paths = large_jpeg_stack(tmp_path / "in")
    runs = {}
    for storage in ("memory", "disk"):
        with Pipeline(storage=storage).run(paths) as result:
            runs[storage] = (result.alignment, result.fusion.image)
    (memory_alignment, memory_image), (disk_alignment, disk_image) = runs.values()
    for a, b in zip(memory_alignment.frames, disk_alignment.frames, strict=True):
        np.testing.assert_array_equal(a.matrix, b.matrix)
    np.testing.assert_allclose(disk_image, memory_image, atol=2 / 255)
    shift = memory_alignment.frames[2].matrix[:2, 2]
    np.testing.assert_allclose(shift, [1.5, -0.5], atol=0.25)  # reference -> frame 2
