"""`FrameSource`: the frames of a stack as every stage reads them, one at a time.

Memory or disk is a choice of storage, not a second code path: frames held in memory
(`ArrayFrames`), decoded into a scratch file (`mfif.scratch.FrameStore`), resampled into the
reference frame as they are read (`mfif.warp.AlignedFrames`) or prepared a frame ahead on a
thread (`ReadAhead`) are all read through this one interface, and every method fuses a
`FrameSource` (`mfif.fusion.Fuser.fuse_frames`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from .color import luminance, plane_of_samples, sample_luminance
from .stack import Stack, to_unit_float

__all__ = [
    "FrameSource",
    "SampleFrames",
    "ArrayFrames",
    "SelectedFrames",
    "ReadAhead",
    "HeldFrames",
    "SourceLuminance",
    "Measure",
]

# A focus measure: luminance (H, W) float32 in [0, 1] and an output size (width, height) ->
# float32 maps of that size, each a local average (smooth at the scale of a pixel).
Measure = Callable[[np.ndarray, tuple[int, int]], list[np.ndarray]]


class FrameSource(ABC):
    """N frames of one scene, read one at a time as float32 (H, W, C) in [0, 1].

    Subclasses set ``shape`` (N, H, W, C), ``names`` and ``bit_depth`` and implement
    `__getitem__`; the other reads have defaults built on it, which a source overrides where it
    can serve them more cheaply (a luminance plane or a few rows without the whole frame).

    Attributes
    ----------
    shape : tuple of int
        (N, H, W, C); C is 1 (grey) or 3 (RGB).
    names : tuple of str
        One per frame (file names).
    bit_depth : {8, 16, 32}
        Of the files the frames came from (32: floating point).
    summaries : list or None
        What registration needs of each frame (`mfif.summaries.frame_summary`), made while the
        frames were decoded; None (or None for a frame) when it was not.
    crop_box : (top, left, height, width) or None
        Where these frames lie in the frames they were resampled from, when alignment cropped
        them to the region every frame covers; None when they were not cropped.
    """

    shape: tuple[int, int, int, int]
    names: tuple[str, ...]
    bit_depth: int = 8
    summaries: list | None = None
    crop_box: tuple[int, int, int, int] | None = None
    # Every read returns a new array the caller owns and may overwrite.
    reads_are_copies: ClassVar[bool] = False
    # `region` reads only the pixels it returns (not the whole frame, as by default).
    reads_regions_alone: ClassVar[bool] = False

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of every frame."""
        return self.shape[1], self.shape[2]

    @abstractmethod
    def __getitem__(self, index: int) -> np.ndarray:
        """Frame ``index`` as float32 (H, W, C) in [0, 1]."""

    def samples(self, index: int) -> np.ndarray:
        """Frame ``index`` as stored, (H, W, C): uint8, uint16 or float32 in [0, 1]."""
        return self[index]

    def rows(self, index: int, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of frame ``index``, float32 (stop - start, W, C) in [0, 1]."""
        return self[index][start:stop]

    def region(self, index: int, rows: slice, columns: slice) -> np.ndarray:
        """``self[index][rows, columns]``, float32 in [0, 1]."""
        return self[index][rows, columns]

    def luminance(self, index: int) -> np.ndarray:
        """`mfif.color.luminance` of frame ``index``, (H, W) float32 in [0, 1]."""
        return luminance(self[index])

    def weighted_sum(self, index: int, coefficients: Sequence[float]) -> np.ndarray:
        """Σ_c coefficients[c] · channel c of frame ``index``, (H, W) float32."""
        import cv2

        return cv2.transform(self[index], np.asarray(coefficients, np.float64).reshape(1, -1))

    def measured(
        self,
        index: int,
        measure: Measure,
        size: tuple[int, int],
        luminance: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """The maps ``measure`` makes of frame ``index``'s luminance, in this source's
        coordinates, each (size[1], size[0]) float32.

        A source that resamples its frames (`mfif.warp.AlignedFrames`) measures each frame in
        its own coordinates and resamples the maps instead: resampling softens a frame's finest
        detail, and its noise, but not a map that is already a local average, so no frame is
        measured as less sharp for having been moved. ``luminance``, the frame's luminance in
        this source's coordinates when the caller has read it, spares another read of a
        source that measures it as it is (a resampling source does not use it).
        """
        return measure(self.luminance(index) if luminance is None else luminance, size)

    def prefetch(self, index: int) -> None:  # noqa: B027 (most sources read fast enough)
        """A hint that frame ``index`` is read next: a source whose reads are slow (decoding a
        file) may start reading it on a thread."""

    @property
    def array(self) -> np.ndarray | None:
        """All frames as one (N, H, W, C) float32 array when they are held in memory, else
        None."""
        return None

    def materialise(self) -> Stack:
        """Every frame read into one in-memory `Stack` (for methods that need them all)."""
        if self.array is not None:
            return Stack(images=self.array, bit_depth=self.bit_depth, names=self.names)
        images = np.empty(self.shape, np.float32)
        for k in range(len(self)):
            images[k] = self[k]
        return Stack(images=images, bit_depth=self.bit_depth, names=self.names)

    def close(self) -> None:  # noqa: B027 (most sources hold nothing to release)
        """Release what the source holds (a scratch file, a thread); reads may fail after."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()


class SampleFrames(FrameSource):
    """Frames kept as their files' samples (uint8, uint16 or float32 in [0, 1]) outside the
    process, read back one at a time: every read is built on `read` (a whole frame, as
    stored) and `read_rows` (a block of rows of it).

    Subclasses: `mfif.scratch.FrameStore` (a scratch file) and `mfif.file_frames.FileFrames`
    (the input files themselves, decoded again).
    """

    reads_regions_alone = True

    @abstractmethod
    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as stored, (H, W, C)."""

    def read_rows(self, index: int, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of frame ``index`` as stored, (stop - start, W, C)."""
        return self.read(index)[start:stop]

    def _read_at(
        self, descriptor: int, offset: int, rows: int, dtype: np.dtype
    ) -> tuple[np.ndarray, int]:
        """``rows`` rows of samples (rows, W, C) of ``dtype`` read in one `os.preadv` at
        ``offset`` of an open file, and the bytes read (fewer than asked when it ended)."""
        import os

        out = np.empty((rows, *self.shape[2:]), dtype=dtype)
        return out, os.preadv(descriptor, [out.data.cast("B")], offset)

    def __getitem__(self, index: int) -> np.ndarray:
        """Frame ``index`` as float32 in [0, 1], (H, W, C)."""
        return to_unit_float(self.read(index), f"frame {index}")

    def samples(self, index: int) -> np.ndarray:
        return self.read(index)

    def rows(self, index: int, start: int, stop: int) -> np.ndarray:
        return to_unit_float(self.read_rows(index, start, stop), f"frame {index}")

    def weighted_sum(self, index: int, coefficients: Sequence[float]) -> np.ndarray:
        """`FrameSource.weighted_sum` without a full-size float copy of the frame
        (`mfif.color.plane_of_samples`)."""
        import cv2

        matrix = np.asarray(coefficients, np.float64).reshape(1, self.shape[3])
        if self.shape[3] == 1:
            return plane_of_samples(
                self.read(index), lambda unit: unit[..., 0] * np.float32(matrix[0, 0])
            )
        return plane_of_samples(self.read(index), lambda unit: cv2.transform(unit, matrix))

    def region(self, index: int, rows: slice, columns: slice) -> np.ndarray:
        """``self[index][rows, columns]``, reading only those rows."""
        samples = self.read_rows(index, rows.start, rows.stop)[:, columns]
        return to_unit_float(np.ascontiguousarray(samples), f"frame {index}")

    def luminance(self, index: int) -> np.ndarray:
        """`mfif.color.luminance` of frame ``index``, (H, W) float32, converted a block of
        rows at a time (the same values as from the whole frame)."""
        return sample_luminance(self.read(index))


class DecodedFrames(SampleFrames):
    """Frames held in memory as their files decoded them (uint8, uint16 or float32 in
    [0, 1]), converted to float32 a read at a time: a quarter of a float32 stack's memory for
    8-bit files (memory a process gets fresh costs page faults: 1-2 ms per MB here), for
    methods that read each frame a few times, in parts.

    Parameters
    ----------
    pages : sequence of ndarray of shape (H, W, C)
        One per frame, as decoded; kept, not copied.
    bit_depth : {8, 16, 32}
        The deepest of the pages.
    names : sequence of str
    """

    def __init__(self, pages: Sequence[np.ndarray], bit_depth: int, names: Sequence[str]) -> None:
        self._pages = list(pages)
        self.shape = (len(self._pages), *self._pages[0].shape)  # type: ignore[assignment]
        self.bit_depth = bit_depth
        self.names = tuple(names)

    def read(self, index: int) -> np.ndarray:
        return self._pages[index]

    def read_rows(self, index: int, start: int, stop: int) -> np.ndarray:
        return self._pages[index][start:stop]


class ArrayFrames(FrameSource):
    """The frames of an in-memory `Stack` (or an (N, H, W, C) float32 array in [0, 1]).

    Parameters
    ----------
    stack : Stack or ndarray of shape (N, H, W, C)
    """

    def __init__(self, stack: Stack | np.ndarray) -> None:
        if isinstance(stack, np.ndarray):
            stack = Stack(images=stack)
        self.stack = stack
        self.shape = tuple(int(n) for n in stack.images.shape)  # type: ignore[assignment]
        self.names = stack.names
        self.bit_depth = stack.bit_depth

    reads_regions_alone = True  # a region is a view

    def __getitem__(self, index: int) -> np.ndarray:
        return self.stack.images[index]

    @property
    def array(self) -> np.ndarray:
        return self.stack.images

    def materialise(self) -> Stack:
        return self.stack


class HeldFrames(ArrayFrames):
    """Another source's frames read once into memory (a resampling source is then not
    resampled at every read); `measured` still goes to that source, which may measure its
    frames as stored (`FrameSource.measured`).

    Parameters
    ----------
    frames : FrameSource
        Kept, and closed with this source.
    """

    def __init__(self, frames: FrameSource) -> None:
        super().__init__(frames.materialise())
        self._frames = frames
        self.crop_box = frames.crop_box

    def measured(self, index: int, *arguments) -> list[np.ndarray]:
        return self._frames.measured(index, *arguments)

    def close(self) -> None:
        self._frames.close()

    @classmethod
    def of(cls, frames: FrameSource) -> FrameSource:
        """``frames`` in memory: themselves when they already are, else held."""
        return frames if frames.array is not None else cls(frames)


class _FramesOf(FrameSource):
    """Frames of another source, frame ``k`` being its frame ``_source_index(k)``: every read
    goes to it."""

    def __init__(self, frames: FrameSource) -> None:
        self._frames = frames
        self.shape = frames.shape
        self.names = frames.names
        self.bit_depth = frames.bit_depth
        self.reads_are_copies = frames.reads_are_copies
        self.reads_regions_alone = frames.reads_regions_alone
        self.crop_box = frames.crop_box

    def _source_index(self, index: int) -> int:
        return int(index)

    def __getitem__(self, index: int) -> np.ndarray:
        return self._frames[self._source_index(index)]

    def samples(self, index: int) -> np.ndarray:
        return self._frames.samples(self._source_index(index))

    def rows(self, index: int, start: int, stop: int) -> np.ndarray:
        return self._frames.rows(self._source_index(index), start, stop)

    def region(self, index: int, rows: slice, columns: slice) -> np.ndarray:
        return self._frames.region(self._source_index(index), rows, columns)

    def luminance(self, index: int) -> np.ndarray:
        return self._frames.luminance(self._source_index(index))

    def weighted_sum(self, index: int, coefficients: Sequence[float]) -> np.ndarray:
        return self._frames.weighted_sum(self._source_index(index), coefficients)

    def measured(self, index: int, *arguments) -> list[np.ndarray]:
        return self._frames.measured(self._source_index(index), *arguments)

    def prefetch(self, index: int) -> None:
        self._frames.prefetch(self._source_index(index))


class ReadAhead(_FramesOf):
    """A frame source that prepares frame k + 1 on a background thread while frame k is used:
    the next frame's decoding and resampling overlap the method's work on the current one.

    Methods read frames in order (twice at most, the second time skipping frames), so the guess
    is usually right; a wrong guess costs one wasted read. Holds one frame more than the source
    alone; the other reads go to the source without reading ahead (safe from several threads).
    Use as a context manager (or call `close`); it does not close the source.

    Parameters
    ----------
    frames : FrameSource
    """

    def __init__(self, frames: FrameSource) -> None:
        from concurrent.futures import ThreadPoolExecutor

        super().__init__(frames)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mfif-read-ahead")
        self._ahead: tuple[int, object] | None = None  # (index, future)

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

    def close(self) -> None:
        """Stop reading ahead."""
        if self._ahead is not None:
            self._ahead[1].cancel()
            self._ahead = None
        self._pool.shutdown(wait=True)


class SelectedFrames(_FramesOf):
    """Some frames of a source (those registration kept), in order; closes the source.

    Parameters
    ----------
    frames : FrameSource
    indices : sequence of int
    """

    def __init__(self, frames: FrameSource, indices: Sequence[int]) -> None:
        super().__init__(frames)
        self._indices = [int(k) for k in indices]
        self.shape = (len(self._indices), *frames.shape[1:])  # type: ignore[assignment]
        self.names = tuple(frames.names[k] for k in self._indices)
        if frames.summaries is not None:
            self.summaries = [frames.summaries[k] for k in self._indices]

    def _source_index(self, index: int) -> int:
        return self._indices[index]

    def close(self) -> None:
        self._frames.close()


class SourceLuminance:
    """What a `mfif.fusion.WeightedFuser` reads of its sources: called with ``k``, source k's
    luminance (H, W) float32 in [0, 1]; `measured` for focus maps made in each source's own
    coordinates (`FrameSource.measured`).

    Parameters
    ----------
    frames : FrameSource
    read : callable, optional
        ``read(k)`` -> the luminance of source k, when the caller has a cheaper way to it
        (a frame it keeps anyway); default ``frames.luminance``.
    """

    def __init__(
        self, frames: FrameSource, read: Callable[[int], np.ndarray] | None = None
    ) -> None:
        self.frames = frames
        self._read = frames.luminance if read is None else read

    def __call__(self, index: int) -> np.ndarray:
        return self._read(index)

    def measured(self, index: int, *arguments) -> list[np.ndarray]:
        """`FrameSource.measured` of source ``index`` (``measure``, ``size``, ``luminance``)."""
        return self.frames.measured(index, *arguments)
