"""The pipeline's stages for stacks too large for memory: frames decoded once into a
`FrameStore` on disk, aligned as each frame is read (`AlignedFrames`), fused by a method that
reads one frame at a time (``fuse_frames``). Memory depends on the frame size, not the frame count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from .align import Alignment, AlignmentError, _apply_gains, _coverage, _resample, largest_rectangle
from .color import _LUMA, luminance
from .concurrency import ordered_map
from .errors import StackError
from .frames import FrameSource, FrameStore
from .io import (
    _check_before_decoding,
    _read_pages,
    _standard_layout,
    _unit_float,
    expand_inputs,
    raw_develop_of,
)
from .stack import bit_depth_of, check_compatible, to_unit_float

__all__ = ["load_frames", "AlignedFrames", "ReadAhead"]

# Full-size float32 frames a streaming stage holds at once (frame, accumulators, weights).
_FRAMES_IN_MEMORY = 4


def load_frames(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    directory: str | os.PathLike | None = None,
    progress: bool = False,
    summarise: Callable[[np.ndarray], object] | None = None,
) -> FrameStore:
    """Decode every file once into a `FrameStore` (in the deepest sample type of the files).

    Parameters
    ----------
    inputs : path-like or sequence of path-like
        Two or more image files, folders or glob patterns (as `mfif.load_stack`).
    directory : path-like, optional
        The scratch folder (default `mfif.frames.scratch_directory`).
    progress : bool
        A progress bar on a terminal.
    summarise : callable, optional
        Applied to each frame (H, W, C) float32 in [0, 1] as it is decoded, on the decoding
        threads (`mfif.align.frame_summary`, say): the results go to ``store.summaries``
        (None for a frame stored at another depth than it was decoded at), sparing a later
        read of every frame.

    Returns
    -------
    FrameStore
        Close it (or use it as a context manager) to release the scratch file.

    Raises
    ------
    ImageReadError, StackError, ScratchSpaceError
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = expand_inputs(inputs)
    if len(paths) < 2:
        raise StackError(
            f"Fusion needs at least 2 images of the same scene; got {len(paths)}"
            + (f" ({paths[0]})." if paths else ".")
        )
    # Headers first (sizes, pixel limit, memory for the frames a streaming method holds).
    _check_before_decoding(paths, frames_in_memory=_FRAMES_IN_MEMORY)
    raw = raw_develop_of(paths)
    store: FrameStore | None = None
    summaries: list = [None] * len(paths)
    try:
        decoded = _decoded(paths, raw, summarise)
        for k, path, page, summary in _progress(decoded, len(paths), progress):
            if store is None:
                store = _new_store(paths, page, directory)
            check_compatible([store.shape[1:], page.shape], [paths[0].name, path.name])
            if bit_depth_of(page.dtype) > store.bit_depth:  # a deeper frame: store deeper
                store = _deepened(store, bit_depth_of(page.dtype), directory)
                summaries = [None] * len(paths)  # the stored samples are no longer those read
            store.write(k, page if page.dtype == store.dtype else _unit_float(page, path))
            if page.dtype == store.dtype:
                summaries[k] = summary
    except BaseException:
        if store is not None:
            store.close()
        raise
    store.summaries = summaries if summarise is not None else None
    return store


def _new_store(paths: Sequence[Path], page: np.ndarray, directory) -> FrameStore:
    height, width = page.shape[:2]
    channels = page.shape[2] if page.ndim == 3 else 1
    return FrameStore(
        len(paths),
        height,
        width,
        channels,
        bit_depth=bit_depth_of(page.dtype),
        directory=directory,
        names=[p.name for p in paths],
    )


def _deepened(store: FrameStore, bit_depth: int, directory) -> FrameStore:
    deeper = FrameStore(*store.shape, bit_depth=bit_depth, directory=directory, names=store.names)
    for k in np.flatnonzero(store._written):
        deeper.write(int(k), store[int(k)])
    store.close()
    return deeper


def _decoded(
    paths: Sequence[Path], raw, summarise: Callable[[np.ndarray], object] | None
) -> Iterator[tuple[int, Path, np.ndarray, object]]:
    """(index, path, decoded page, its summary) in order, decoding two files at a time (the
    decoders free the GIL); at most two decoded pages wait."""

    def decode(item: tuple[int, Path]) -> tuple[int, Path, np.ndarray, object]:
        k, path = item
        page = _read_pages(Path(path), first_only=True, probed=True, raw=raw)[0][0]
        page = _standard_layout(page, path)
        summary = None
        if summarise is not None:
            summary = summarise(page if page.ndim == 3 else page[..., None])
        return k, path, page, summary

    return ordered_map(decode, enumerate(paths), threads=2)


def _progress(items: Iterator, count: int, progress: bool) -> Iterator:
    if not progress or count < 8:
        return items
    from tqdm import tqdm

    # A bar on a terminal only.
    return tqdm(items, total=count, desc="reading", unit="image", leave=False, disable=None)


class AlignedFrames:
    """Frames resampled into the reference frame, gain-matched and cropped to the region every
    frame covers, computed when read (`mfif.align.apply_alignment` with ``crop=True``, frame by
    frame: the same samples, with nothing stored).

    Parameters
    ----------
    frames : FrameSource
        The frames the alignment was estimated on.
    alignment : Alignment
    """

    fresh = True  # every read returns a new array the caller owns

    def __init__(self, frames: FrameSource, alignment: Alignment) -> None:
        count, height, width, channels = frames.shape
        if (height, width) != alignment.shape or count != len(alignment.frames):
            raise StackError(
                f"The alignment is for {len(alignment.frames)} frames of "
                f"{alignment.shape[1]}x{alignment.shape[0]}; the stack has {count} of "
                f"{width}x{height}."
            )
        valid = np.ones((height, width), bool)
        for transform in alignment.frames:
            valid &= _coverage((height, width), transform.matrix, (height, width))
        top, left, crop_height, crop_width = largest_rectangle(valid)
        if crop_height < 8 or crop_width < 8:
            raise AlignmentError("The frames have too little area in common to fuse.")
        self._offset = np.array([[1.0, 0.0, left], [0.0, 1.0, top], [0.0, 0.0, 1.0]])
        self._frames = frames
        self._alignment = alignment
        self.shape = (count, crop_height, crop_width, channels)
        self.names = frames.names

    def __len__(self) -> int:
        return self.shape[0]

    def luminance(self, index: int) -> np.ndarray:
        """Luminance of aligned frame ``index``, (h, w) float32 in [0, 1], resampling one
        plane instead of C: the gained luminance of the frame as stored, then warped (the
        same as the luminance of ``self[index]`` within rounding, except where a gain above 1
        saturates a channel)."""
        transform = self._alignment.frames[index]
        channels = self.shape[3]
        gains = np.broadcast_to(np.asarray(transform.gains, np.float64), (channels,))
        weights = _LUMA.astype(np.float64) * gains if channels == 3 else gains
        if not hasattr(self._frames, "weighted_sum") and channels == 3:
            image = self._frames[index]
            plane = cv2.transform(image, weights.reshape(1, 3))
        elif channels == 3:
            plane = self._frames.weighted_sum(index, weights)
        else:
            plane = self._frames[index][..., 0] * np.float32(gains[0])
        warped = _resample(plane[..., None], transform.matrix @ self._offset, self.shape[1:3])
        return np.clip(warped[..., 0], 0.0, 1.0)

    def __getitem__(self, index: int) -> np.ndarray:
        """Aligned frame ``index``, float32 (h, w, C) in [0, 1]."""
        transform = self._alignment.frames[index]
        image = _resample(self._frames[index], transform.matrix @ self._offset, self.shape[1:3])
        _apply_gains(image, transform.gains)
        return np.clip(image, 0.0, 1.0, out=image)

    def region(self, index: int, rows: slice, columns: slice) -> np.ndarray:
        """``self[index][rows, columns]``, resampling only that region from the source rows it
        needs (a frame that wins a small area costs a small read).

        The same samples as from the whole frame within float rounding of the coordinates:
        OpenCV maps each pixel from the region's corner instead of the frame's.
        """
        transform = self._alignment.frames[index]
        height, width = rows.stop - rows.start, columns.stop - columns.start
        band = transform.matrix @ self._offset @ _translation(columns.start, rows.start)
        top, bottom = _source_rows(band, height, width, self._frames.shape[1])
        if callable(getattr(self._frames, "read_rows", None)):
            samples = to_unit_float(self._frames.read_rows(index, top, bottom), "frame")
        else:
            samples = self._frames[index][top:bottom]
        image = _resample(samples, _translation(0, -top) @ band, (height, width))
        _apply_gains(image, transform.gains)
        return np.clip(image, 0.0, 1.0, out=image)


def _translation(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def _source_rows(matrix: np.ndarray, height: int, width: int, rows: int) -> tuple[int, int]:
    """The source rows a (height, width) output maps into through ``matrix``, with a margin
    for the interpolation footprint, clamped to the frame."""
    corners = np.array(
        [[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]]
    )
    mapped = corners @ matrix.T
    ys = mapped[:, 1] / mapped[:, 2]
    top = max(0, int(np.floor(ys.min())) - 2)
    bottom = min(rows, int(np.ceil(ys.max())) + 3)
    return top, max(bottom, top + 1)


class ReadAhead:
    """A frame source that prepares frame k + 1 on a background thread while frame k is used:
    the next frame's decoding and resampling overlap the method's work on the current one.

    Streaming methods read frames in order (twice at most, the second time skipping frames),
    so the guess is usually right; a wrong guess costs one wasted read. Holds one frame more
    than the source alone. Use as a context manager (or call `close`).

    Parameters
    ----------
    frames : FrameSource
    """

    def __init__(self, frames: FrameSource) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._frames = frames
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mfif-read-ahead")
        self._ahead: tuple[int, object] | None = None  # (index, future)
        self.shape = frames.shape
        self.names = frames.names
        self.fresh = getattr(frames, "fresh", False)  # reads are new arrays, as the source's

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> np.ndarray:
        index = int(index)
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == index:
            frame = ahead[1].result()
        else:
            if ahead is not None:
                ahead[1].cancel()  # a wrong guess: drop it (or let it finish unused)
            frame = self._frames[index]
        if index + 1 < len(self._frames):
            self._ahead = (index + 1, self._pool.submit(self._frames.__getitem__, index + 1))
        return frame

    def region(self, index: int, rows: slice, columns: slice) -> np.ndarray:
        """The source's ``region`` of frame ``index`` (no reading ahead)."""
        source = self._frames
        if callable(getattr(source, "region", None)):
            return source.region(index, rows, columns)
        return source[index][rows, columns]

    def luminance(self, index: int) -> np.ndarray:
        """The source's luminance of frame ``index`` (no reading ahead: safe from threads)."""
        source = self._frames
        if callable(getattr(source, "luminance", None)):
            return source.luminance(index)
        return luminance(source[index])

    def close(self) -> None:
        """Stop reading ahead."""
        if self._ahead is not None:
            self._ahead[1].cancel()
            self._ahead = None
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()
