"""Frames of a large stack kept in a scratch file on disk and read back one at a time.

A stack of 100 frames of 24 megapixels is 29 GB as float32: it cannot be held in memory. The
frames are decoded once into a scratch file (`mfif.io.load_frames` with ``storage="scratch"``,
or "disk" for frames other than JPEG, which are read from their own files instead:
`mfif.file_frames`) and methods read them back one at a time (`mfif.fusion.Fuser.fuse_frames`),
so memory depends on the frame size, not on the frame count.

The scratch file lives in ``$MFIF_SCRATCH`` if set, else in the system's temporary folder
(``$TMPDIR``, usually ``/tmp``). It is created already unlinked (`tempfile.TemporaryFile`),
so it disappears on any exit, a crash or a kill included.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import MfifError
from .frames import SampleFrames

__all__ = ["FrameStore", "scratch_directory", "ScratchSpaceError"]

_STORED_TYPES = {8: np.uint8, 16: np.uint16, 32: np.float32}


class ScratchSpaceError(MfifError):
    """The scratch folder cannot hold the frames."""


def scratch_directory() -> Path:
    """Where scratch files go: ``$MFIF_SCRATCH``, else the system's temporary folder."""
    return Path(os.environ.get("MFIF_SCRATCH") or tempfile.gettempdir())


class FrameStore(SampleFrames):
    """N frames of (H, W, C) on disk, written and read one at a time.

    Samples are stored as the source's type (8 or 16 bits, or float32), so a frame read back is
    exactly the frame written when it came from a file of that depth.

    Parameters
    ----------
    count : int
        N.
    height, width, channels : int
        Size of every frame; ``channels`` is 1 or 3.
    bit_depth : {8, 16, 32}
        Stored sample type: uint8, uint16, or float32 for 32.
    directory : path-like, optional
        Default `scratch_directory`.
    names : sequence of str, optional
        One per frame (file names); default ``frame-<k>``.

    Raises
    ------
    ScratchSpaceError
        The folder is missing, not writable, or lacks the space for N frames.
    """

    reads_are_copies = True

    def __init__(
        self,
        count: int,
        height: int,
        width: int,
        channels: int,
        *,
        bit_depth: int = 16,
        directory: str | os.PathLike | None = None,
        names: Sequence[str] = (),
    ) -> None:
        if bit_depth not in _STORED_TYPES:
            raise ValueError(f"bit_depth must be 8, 16 or 32, not {bit_depth!r}")
        if names and len(names) != count:
            raise ValueError(f"{len(names)} names for {count} frames")
        self.shape = (count, height, width, channels)
        self.names = tuple(names) or tuple(f"frame-{k}" for k in range(count))
        self.bit_depth = bit_depth
        self.dtype = np.dtype(_STORED_TYPES[bit_depth])
        self.frame_bytes = height * width * channels * self.dtype.itemsize
        folder = Path(directory) if directory is not None else scratch_directory()
        needed = count * self.frame_bytes
        try:
            free = shutil.disk_usage(folder).free
            self._file = tempfile.TemporaryFile(dir=folder)
        except OSError as error:
            raise ScratchSpaceError(
                f"The scratch folder {folder} cannot be used ({error.strerror or error}); set "
                "MFIF_SCRATCH to a writable folder."
            ) from None
        if needed > free:
            self._file.close()
            raise ScratchSpaceError(
                f"{count} frames need {needed / 2**30:.1f} GiB of scratch space but {folder} "
                f"has {free / 2**30:.1f} GiB free; set MFIF_SCRATCH to a larger folder."
            )
        self._written = np.zeros(count, dtype=bool)

    def close(self) -> None:
        """Release the scratch file (it is deleted)."""
        self._file.close()

    def write(self, index: int, frame: np.ndarray) -> None:
        """Store frame ``index``: (H, W) or (H, W, C) of the stored type, or float in [0, 1]
        (rounded to the stored type)."""
        frame = np.asarray(frame)
        if frame.shape[:2] != self.shape[1:3] or frame.size != np.prod(self.shape[1:]):
            raise ValueError(f"frame of shape {frame.shape} for a store of {self.shape}")
        if frame.dtype != self.dtype:
            if not np.issubdtype(frame.dtype, np.floating):
                raise ValueError(f"{frame.dtype} frame for a store of {self.dtype}")
            if self.dtype != np.float32:
                top = np.iinfo(self.dtype).max
                frame = np.rint(np.clip(frame, 0.0, 1.0) * top).astype(self.dtype)
            else:
                frame = frame.astype(np.float32)
        payload = np.ascontiguousarray(frame)
        written = os.pwrite(self._file.fileno(), payload.data, self._offset(index))
        if written != self.frame_bytes:
            raise OSError(f"short write to the scratch file ({written} of {self.frame_bytes})")
        self._written[index] = True

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as stored, (H, W, C)."""
        return self.read_rows(index, 0, self.shape[1])

    def read_rows(self, index: int, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of frame ``index`` as stored, (stop - start, W, C)."""
        if not self._written[index]:
            raise IndexError(f"frame {index} was never written")
        row_bytes = self.frame_bytes // self.shape[1]
        offset = self._offset(index) + start * row_bytes
        out, done = self._read_at(self._file.fileno(), offset, stop - start, self.dtype)
        if done != out.nbytes:
            raise OSError(f"short read from the scratch file ({done} of {out.nbytes})")
        return out

    def _offset(self, index: int) -> int:
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"frame {index} of {self.shape[0]}")
        return index * self.frame_bytes
