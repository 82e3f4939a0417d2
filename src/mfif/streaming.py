"""The pipeline's stages for stacks too large for memory: frames decoded once into a
`FrameStore` on disk, aligned as each frame is read (`AlignedFrames`), fused by a method that
reads one frame at a time (``fuse_frames``). Memory depends on the frame size, not the frame count.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .align import Alignment, AlignmentError, _apply_gains, _coverage, _resample, largest_rectangle
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
from .stack import bit_depth_of, check_compatible

__all__ = ["load_frames", "AlignedFrames"]

# Full-size float32 frames a streaming stage holds at once (frame, accumulators, weights).
_FRAMES_IN_MEMORY = 4


def load_frames(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    directory: str | os.PathLike | None = None,
    progress: bool = False,
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
    try:
        for k, path in _progress(paths, progress):
            page = _read_pages(Path(path), first_only=True, probed=True, raw=raw)[0][0]
            page = _standard_layout(page, path)
            if store is None:
                store = _new_store(paths, page, directory)
            check_compatible([store.shape[1:], page.shape], [paths[0].name, path.name])
            if bit_depth_of(page.dtype) > store.bit_depth:  # a deeper frame: store deeper
                store = _deepened(store, bit_depth_of(page.dtype), directory)
            store.write(k, page if page.dtype == store.dtype else _unit_float(page, path))
    except BaseException:
        if store is not None:
            store.close()
        raise
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


def _progress(paths: Sequence[Path], progress: bool):
    if not progress or len(paths) < 8:
        return enumerate(paths)
    from tqdm import tqdm

    return enumerate(
        tqdm(paths, desc="reading", unit="image", leave=False, disable=None)  # terminal only
    )


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

    def __getitem__(self, index: int) -> np.ndarray:
        """Aligned frame ``index``, float32 (h, w, C) in [0, 1]."""
        transform = self._alignment.frames[index]
        image = _resample(self._frames[index], transform.matrix @ self._offset, self.shape[1:3])
        _apply_gains(image, transform.gains)
        return np.clip(image, 0.0, 1.0, out=image)
