"""Frames read from the stack's own files at every read: JPEG decoded again (`FileFrames`),
uncompressed TIFF read where its samples lie (`TiffFrames`).

A stack too large for memory is otherwise copied into a scratch file as it is decoded
(`mfif.scratch.FrameStore`). For JPEG frames the copy costs more than it saves: a 24 MP JPEG
decodes in about 0.13 s on one core, while writing its 72 MB of samples to a scratch file
takes 0.02-0.05 s on a machine whose page cache is warm but 0.3-0.45 s on a virtual machine
that hands the guest fresh memory for every new page (measured here: 5-6 ms per MB), and the
copy needs scratch space the size of the stack. `FileFrames` keeps nothing but the file
names: each read decodes the file again, and the last two frames decoded are kept, so the
blocks of rows a method reads of one frame decode it once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import StackError
from .frames import SampleFrames

__all__ = ["FileFrames", "TiffFrames", "tiff_layout", "REDECODED_SUFFIXES"]

# Formats whose decoding costs less than storing and reading back their samples.
REDECODED_SUFFIXES = (".jpg", ".jpeg")

# Decoded frames kept: a frame read in blocks of rows while another is read too (a read-ahead
# thread; without crop, a neighbour filling the border a frame does not cover).
_KEPT = 2
_PENDING = 2  # prefetched decodes not yet read (`FileFrames.prefetch`)


class FileFrames(SampleFrames):
    """The frames of ``paths``, decoded from their files whenever they are read.

    Parameters
    ----------
    paths : sequence of Path
        One file per frame; every one decodes to ``shape[1:]`` samples of ``bit_depth``.
    shape : tuple of int
        (N, H, W, C), as the files decode (C is 1 for grey files).
    decode : callable
        Path -> its samples, (H, W) or (H, W, C) (`mfif.io.decode_first_page`).
    bit_depth : {8, 16}
        Of the decoded samples.
    names : sequence of str, optional
        Default: the file names.

    Reads return the cached samples, read-only; a file that changes while the stack is read
    (its size or modification time) raises `mfif.errors.StackError` at its next read.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        shape: tuple[int, int, int, int],
        decode: Callable[[Path], np.ndarray],
        *,
        bit_depth: int = 8,
        names: Sequence[str] = (),
    ) -> None:
        if len(paths) != shape[0]:
            raise ValueError(f"{len(paths)} files for {shape[0]} frames")
        self.paths = tuple(Path(path) for path in paths)
        self.shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
        self.names = tuple(names) or tuple(path.name for path in self.paths)
        self.bit_depth = bit_depth
        self._decode_file = decode
        self._signatures = [_signature(path) for path in self.paths]
        self._decoded: OrderedDict[int, np.ndarray] = OrderedDict()
        self._pending: dict[int, Future] = {}  # decodes started by `prefetch`
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def prefetch(self, index: int) -> None:
        """Start decoding frame ``index`` on a thread unless it is kept. Callers ask for the
        next frame before they read this one (the blend, while it still waits for this
        frame's weights), so the two latest frames asked for and not yet read wait; an older
        one was never read and is dropped."""
        with self._lock:
            if index in self._decoded or index in self._pending or not 0 <= index < len(self):
                return
            while len(self._pending) >= _PENDING:
                oldest = next(iter(self._pending))  # dicts keep the order frames were asked for
                self._pending.pop(oldest).cancel()  # or, started, it finishes and is forgotten
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="mfif-decode")
            self._pending[index] = self._pool.submit(self._decode, index)

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as decoded, (H, W, C) uint8 or uint16, read-only."""
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"frame {index} of {self.shape[0]}")
        with self._lock:
            if index in self._decoded:
                self._decoded.move_to_end(index)
                return self._decoded[index]
            pending = self._pending.pop(index, None)
        samples = self._decode(index) if pending is None else pending.result()
        with self._lock:
            self._decoded[index] = samples
            while len(self._decoded) > _KEPT:
                self._decoded.popitem(last=False)
        return samples

    def _decode(self, index: int) -> np.ndarray:
        path = self.paths[index]
        if _signature(path) != self._signatures[index]:
            raise StackError(f"{path} changed while the stack was being fused.")
        page = self._decode_file(path)
        if page.size != np.prod(self.shape[1:]) or page.shape[:2] != self.shape[1:3]:
            raise StackError(f"{path} changed while the stack was being fused.")
        samples = page.reshape(self.shape[1:])
        samples.flags.writeable = False
        return samples

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._pending.clear()
            self._decoded.clear()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _signature(path: Path) -> tuple[int, int]:
    """(size, modification time in ns) of a file."""
    try:
        status = os.stat(path)
    except OSError as error:
        raise StackError(f"{path} cannot be read again: {error.strerror}.") from None
    return status.st_size, status.st_mtime_ns


class TiffFrames(SampleFrames):
    """Frames read straight from uncompressed TIFF files: each file's first page is one
    contiguous block of interleaved samples (`tiff_layout`), the layout of a scratch file, so a
    read is one `os.preadv` of the rows asked for (a 24 MP 16-bit page in about 0.02 s from the
    page cache; its scratch copy cost 0.9 s here), nothing is kept, and no scratch space is
    needed.

    Parameters
    ----------
    paths : sequence of Path
    offsets : sequence of int
        Where each file's samples start (`tiff_layout`).
    shape : tuple of int
        (N, H, W, C).
    dtype : numpy dtype
        Of the samples (uint8 or uint16, in this machine's byte order).
    names : sequence of str, optional
    """

    reads_are_copies = True

    def __init__(
        self,
        paths: Sequence[Path],
        offsets: Sequence[int],
        shape: tuple[int, int, int, int],
        dtype: np.dtype,
        *,
        names: Sequence[str] = (),
    ) -> None:
        self.paths = tuple(Path(path) for path in paths)
        self._offsets = tuple(int(offset) for offset in offsets)
        self.shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
        self.dtype = np.dtype(dtype)
        self.bit_depth = 8 * self.dtype.itemsize
        self.names = tuple(names) or tuple(path.name for path in self.paths)
        self._signatures = [_signature(path) for path in self.paths]

    def read(self, index: int) -> np.ndarray:
        return self.read_rows(index, 0, self.shape[1])

    def read_rows(self, index: int, start: int, stop: int) -> np.ndarray:
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"frame {index} of {self.shape[0]}")
        path = self.paths[index]
        if _signature(path) != self._signatures[index]:
            raise StackError(f"{path} changed while the stack was being fused.")
        row_bytes = int(np.prod(self.shape[2:])) * self.dtype.itemsize
        offset = self._offsets[index] + start * row_bytes
        with open(path, "rb") as handle:
            out, done = self._read_at(handle.fileno(), offset, stop - start, self.dtype)
        if done != out.nbytes:
            raise StackError(f"{path} changed while the stack was being fused.")
        return out


def tiff_layout(path: Path) -> tuple[int, tuple[int, ...], np.dtype] | None:
    """(offset, shape (H, W, C), dtype) of a TIFF file whose first page `TiffFrames` can read
    in place: uncompressed, in strips stored one after another, samples interleaved, 1 or 3 of
    8 or 16 bits per pixel, in this machine's byte order; None for any other file."""
    import sys

    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages[0]
            native = "<" if sys.byteorder == "little" else ">"
            layout_ok = (
                int(page.compression) == 1
                and page.is_contiguous
                and not page.is_tiled
                and int(page.fillorder) == 1
                and (int(page.planarconfig) == 1 or page.samplesperpixel == 1)
                and page.samplesperpixel in (1, 3)
                and page.dtype in (np.uint8, np.uint16)
                and (tiff.byteorder == native or page.dtype == np.uint8)
            )
            if not layout_ok:
                return None
            height, width = page.imagelength, page.imagewidth
            shape = (height, width, page.samplesperpixel)
            if int(np.prod(shape)) * page.dtype.itemsize != sum(map(int, page.databytecounts)):
                return None
            return int(page.dataoffsets[0]), shape, np.dtype(page.dtype)
    except Exception:  # unreadable here: decoding will say why
        return None
