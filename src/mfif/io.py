"""Reading and writing images and stacks: PNG, JPEG, BMP, TIFF; 8/16-bit; grey and RGB; camera
RAW input through `mfif.raw` (the optional ``mfif[raw]`` extra).

Images are returned as float32 in [0, 1], RGB channel order. Writes are atomic (a temporary file
in the target folder, then a rename) and refuse to overwrite an input of the stack.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .codecs import (
    IMAGE_SUFFIXES,
    TIFF_SUFFIXES,
    check_bit_depth,
    encode_image,
    output_bit_depth,
    to_integer,
)
from .concurrency import ordered_map
from .errors import ImageReadError, MfifError, OptionError, StackError
from .file_frames import REDECODED_SUFFIXES, FileFrames, TiffFrames, tiff_layout
from .frames import ArrayFrames, DecodedFrames, FrameSource
from .limits import ImageHeader, check_memory, check_pixels, probe_image
from .outputs import OutputSet
from .raw import RAW_SUFFIXES, RawDevelop, develop, develop_settings, is_raw, raw_size
from .stack import Stack, bit_depth_of, check_compatible, to_unit_float

__all__ = [
    "IMAGE_SUFFIXES",
    "INPUT_SUFFIXES",
    "image_header",
    "read_image",
    "load_stack",
    "load_frames",
    "expand_inputs",
    "save_image",
    "encode_image",
    "output_bit_depth",
    "check_bit_depth",
    "to_integer",
]

_logger = logging.getLogger(__name__)

# What a folder of frames may hold: every image format mfif writes, and camera RAW.
INPUT_SUFFIXES = IMAGE_SUFFIXES + RAW_SUFFIXES


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read one image file.

    Parameters
    ----------
    path : str or path-like
        A PNG, JPEG, BMP or TIFF file (the first page of a multi-page TIFF), or a camera RAW
        file developed as `mfif.raw` describes (16-bit linear RGB).

    Returns
    -------
    image : ndarray of shape (H, W) or (H, W, 3), float32 in [0, 1]
        RGB channel order; an alpha channel is dropped.
    bit_depth : {8, 16, 32}
        32 for floating-point samples (TIFF), which must lie in [0, 1].

    Raises
    ------
    ImageReadError
        Missing, unreadable or corrupt file, or an image over the pixel limit
        (`mfif.limits`).
    StackError
        Floating-point samples outside [0, 1], or NaN or infinite ones.
    """
    pages, bit_depth = _read_pages(Path(path), first_only=True)
    return _unit_float(pages[0], Path(path)), bit_depth


def expand_inputs(
    inputs: Iterable[str | os.PathLike], *, exclude: Sequence[str] = ()
) -> list[Path]:
    """Turn files, folders and glob patterns into a sorted-per-item list of image files.

    A folder contributes its image files (by suffix) in name order; a pattern that is not an
    existing path is expanded as a glob. Order between items is kept. Files whose name matches
    one of the ``exclude`` patterns (``fnmatch``, e.g. ``"reference.*"``) are left out.

    Raises
    ------
    ImageReadError
        A path that does not exist, a folder without images, a pattern that matches nothing,
        or nothing left after ``exclude``.
    """
    paths: list[Path] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in INPUT_SUFFIXES)
            if not found:
                raise ImageReadError(
                    f"The folder {text} contains no PNG, JPEG, BMP, TIFF or camera RAW images."
                )
            paths.extend(found)
        elif not path.exists() and glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
            if not found:
                raise ImageReadError(f"The pattern {text} matches no file.")
            paths.extend(found)
        elif _missing(path):
            raise ImageReadError(f"The file or folder {text} does not exist.")
        else:
            paths.append(path)
    kept = [path for path in paths if not is_excluded(path, exclude)]
    if paths and not kept:
        raise ImageReadError(f"--exclude {' '.join(exclude)} leaves no image of {len(paths)}.")
    return kept


def _missing(path: Path) -> bool:
    """Whether nothing is at ``path`` (other failures, a name too long, say, are reported
    where the file is read)."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def is_excluded(path: Path, patterns: Sequence[str]) -> bool:
    """Whether the file name of ``path`` matches one of ``patterns`` (``fnmatch``)."""
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)


# Names other tools give their results: a frame so named is probably not a frame.
_RESULT_WORDS = ("reference", "fused", "stacked", "result", "output")


def warn_result_like(paths: Sequence[Path]) -> None:
    """Log a warning naming the inputs whose names say they are a result, not a frame (a
    folder holding the frames and another tool's result, say)."""
    suspects = [
        path.name for path in paths if any(word in path.stem.lower() for word in _RESULT_WORDS)
    ]
    if suspects and len(suspects) < len(paths):
        _logger.warning(
            "%s %s named like a result, not a frame; it is fused as a frame "
            "(--exclude '%s' leaves it out).",
            ", ".join(suspects),
            "is" if len(suspects) == 1 else "are",
            suspects[0],
        )


def load_frames(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    storage: str = "memory",
    directory: str | os.PathLike | None = None,
    progress: bool = False,
    summarise: Callable[[np.ndarray, tuple[int, int]], object] | None = None,
    summary_reduction: Callable[[int, int], int] | None = None,
) -> FrameSource:
    """Decode a focus stack once, into memory or into a scratch file on disk.

    Parameters
    ----------
    inputs : path-like or sequence of path-like
        Two or more image files; or a folder or glob giving two or more; or a single
        multi-page TIFF whose pages are the sources (always read into memory).
    storage : {"memory", "samples", "disk", "scratch", "files"}
        "memory": one float32 array (`mfif.frames.ArrayFrames`). "samples": in memory as
        decoded, converted at each read (`mfif.frames.DecodedFrames`). "scratch": a scratch file in
        the deepest sample type of the files (`mfif.scratch.FrameStore`). "files": nothing is
        kept; every read decodes the frame's JPEG file again (`mfif.file_frames.FileFrames`),
        or reads an uncompressed TIFF's samples where they lie (`TiffFrames`); other files
        cannot. "disk": "files" for a stack of such files, whose reading again costs less
        than a copy, else "scratch". From disk, memory depends on the frame size, not the
        frame count.
    directory : path-like, optional
        The scratch folder (default `mfif.scratch.scratch_directory`).
    progress : bool
        A progress bar on stderr while reading 8 or more files, when stderr is a terminal.
    summarise : callable, optional
        ``summarise(frame, (H, W))`` of each frame (h, w, C) as decoded (uint8, uint16 or
        float in [0, 1]), on the decoding threads (`mfif.summaries.frame_summary`, say): the
        results go to the source's ``summaries`` (None for a frame stored at another depth
        than it was decoded at), sparing a later read of every frame.
    summary_reduction : callable, optional
        ``summary_reduction(H, W)``: a factor (1, 2, 4 or 8) by which a JPEG file is decoded
        smaller for ``summarise`` (DCT scaling, `mfif.summaries.summary_reduction`); the frame
        is then decoded whole only when it is kept (not for storage "files").

    Returns
    -------
    FrameSource
        Close it (or use it as a context manager) to release a scratch file.

    Raises
    ------
    ImageReadError
        A file is missing, unreadable or not a supported image.
    StackError
        Fewer than two images, different sizes, or grey mixed with colour.
    ScratchSpaceError
        The scratch folder cannot hold the frames.
    """
    if storage not in ("memory", "samples", "disk", "scratch", "files"):
        raise ValueError(
            f"storage must be 'memory', 'samples', 'disk', 'scratch' or 'files', not {storage!r}"
        )
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = expand_inputs(inputs)
    readable = None  # how storage "files" reads the stack again (`_read_in_place`)
    if storage in ("disk", "files"):
        readable = _read_in_place(paths)
        if storage == "disk":
            storage = "files" if readable is not None and disk_frames() == "files" else "scratch"
        elif readable is None:
            raise ValueError("storage 'files' reads JPEG and uncompressed TIFF files only")
    warn_result_like(paths)
    if len(paths) == 1 and paths[0].suffix.lower() in TIFF_SUFFIXES:
        return ArrayFrames(_multipage_stack(paths[0]))
    if len(paths) < 2:
        raise StackError(
            f"Fusion needs at least 2 images of the same scene; got {len(paths)} ({paths[0]})."
            if paths
            else "Fusion needs at least 2 images of the same scene; got none."
        )
    # Headers first (sizes, pixel limit, memory for the frames held).
    in_memory = None if storage in ("memory", "samples") else _FRAMES_IN_MEMORY_FROM_DISK
    headers = _check_before_decoding(paths, frames_in_memory=in_memory)
    decoded = _decoded(
        paths, raw_develop_of(paths), summarise, summary_reduction, headers,
        whole=storage != "files",
    )  # fmt: skip
    if progress:
        from .progress import progress_bar

        decoded = progress_bar(decoded, total=len(paths), label="load", unit="frame")
    frames: _Frames | None = None
    try:
        for k, path, page, summary in decoded:
            if frames is None:
                frames = _Frames(paths, page, storage, directory, in_place=readable)
            check_compatible([frames.first_shape, page.shape], [paths[0].name, path.name])
            frames.write(k, page, path, summary)
    except BaseException:
        if frames is not None:
            frames.close()
        raise
    return frames.finished(summarise is not None)


def _read_in_place(paths: Sequence[Path]) -> list | None:
    """How `storage="files"` reads the stack again: [] for JPEG files (decoded again), each
    file's `mfif.file_frames.tiff_layout` for uncompressed TIFF files of one layout (read in
    place); None when the files are neither."""
    if all(path.suffix.lower() in REDECODED_SUFFIXES for path in paths):
        return []
    if not all(path.suffix.lower() in TIFF_SUFFIXES and not is_raw(path) for path in paths):
        return None
    layouts = [tiff_layout(path) for path in paths]
    if any(layout is None for layout in layouts) or len({lay[1:] for lay in layouts}) != 1:
        return None
    return layouts


def disk_frames() -> str:
    """Where a JPEG or uncompressed TIFF stack fused from disk is read from:
    ``$MFIF_DISK_FRAMES``, "files" (the default: read from the files again at every read) or
    "scratch" (copied to a scratch file once; for files on a slow network share, say)."""
    choice = os.environ.get("MFIF_DISK_FRAMES", "") or "files"
    if choice not in ("files", "scratch"):
        raise OptionError(f"MFIF_DISK_FRAMES must be 'files' or 'scratch'; got {choice!r}.")
    return choice


def load_stack(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike, *, progress: bool = False
) -> Stack:
    """Read a focus stack into memory (`load_frames` with ``storage="memory"``).

    Parameters
    ----------
    inputs : path-like or sequence of path-like
        Two or more image files; or a folder or glob giving two or more; or a single
        multi-page TIFF whose pages are the sources.
    progress : bool, keyword-only
        Show a progress bar on stderr while reading 8 or more files, when stderr is a terminal.

    Returns
    -------
    Stack
        Images (N, H, W, C) float32 in [0, 1]; bit depth is 16 if any source is 16-bit.

    Raises
    ------
    ImageReadError
        A file is missing, unreadable or not a supported image.
    StackError
        Fewer than two images, different sizes, or grey mixed with colour.
    """
    return load_frames(inputs, progress=progress).materialise()


# Full-size float32 frames a method fusing from disk holds at once (frame, accumulators, weights).
_FRAMES_IN_MEMORY_FROM_DISK = 4


class _Frames:
    """The frames being decoded into their storage: float32 in memory, the files' sample type
    in a scratch file (stored deeper when a deeper file comes), or nowhere (read from the
    files again)."""

    def __init__(
        self,
        paths: Sequence[Path],
        page: np.ndarray,
        storage: str,
        directory,
        in_place: list | None = None,
    ) -> None:
        self.paths = paths
        self.in_place = in_place  # storage "files": `_read_in_place` of the paths
        self.names = tuple(path.name for path in paths)
        self.first_shape = page.shape
        self.bit_depth = bit_depth_of(page.dtype)
        self.summaries: list = [None] * len(paths)
        self.directory = directory
        self.shape = (len(paths), *page.shape[:2], page.shape[2] if page.ndim == 3 else 1)
        self.images: np.ndarray | None = None
        self.store = None  # a FrameStore on disk
        self.in_files = storage == "files"  # nothing kept: read from the files again
        self.pages: list | None = [None] * len(paths) if storage == "samples" else None
        if storage == "memory":
            self.images = np.empty(self.shape, np.float32)
        elif storage == "scratch":
            self.store = self._new_store(self.bit_depth)
        self.written: list[int] = []

    def _new_store(self, bit_depth: int):
        from .scratch import FrameStore

        return FrameStore(
            *self.shape, bit_depth=bit_depth, directory=self.directory, names=self.names
        )

    def write(self, k: int, page: np.ndarray, path: Path, summary: object) -> None:
        depth = bit_depth_of(page.dtype)
        if self.pages is not None or self.images is not None or self.in_files:
            if self.pages is not None:
                self.pages[k] = page.reshape(self.shape[1:])
            elif self.images is not None:
                _unit_float(page, path, out=self.images[k].reshape(page.shape))
            self.bit_depth = max(self.bit_depth, depth)
            self.summaries[k] = summary
            return
        if depth > self.store.bit_depth:  # a deeper frame: store every frame deeper
            deeper = self._new_store(depth)
            for written in self.written:
                deeper.write(written, self.store[written])
            self.store.close()
            self.store = deeper
            self.summaries = [None] * len(self.paths)  # the stored samples are not those read
        exact = page.dtype == self.store.dtype
        self.store.write(k, page if exact else _unit_float(page, path))
        self.summaries[k] = summary if exact else None
        self.written.append(k)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def _files(self) -> FrameSource:
        """The frames read from their files again: TIFF samples where they lie, JPEG decoded."""
        if self.in_place:
            offset, shape, dtype = zip(*self.in_place, strict=True)
            if shape[0] != self.shape[1:]:
                raise StackError(f"{self.paths[0]} changed while the stack was being read.")
            return TiffFrames(self.paths, offset, self.shape, dtype[0], names=self.names)
        return FileFrames(
            self.paths, self.shape, decode_first_page, bit_depth=self.bit_depth, names=self.names
        )

    def finished(self, summarised: bool) -> FrameSource:
        source = self.store
        if self.images is not None:
            source = ArrayFrames(Stack(self.images, self.bit_depth, self.names))
        elif self.pages is not None:
            source = DecodedFrames(self.pages, self.bit_depth, self.names)
        elif self.in_files:
            source = self._files()
        if summarised:
            source.summaries = self.summaries
        return source


def _decoded(
    paths: Sequence[Path],
    raw: RawDevelop | None,
    summarise: Callable | None,
    reduction_of: Callable[[int, int], int] | None,
    headers: dict[Path, ImageHeader],
    *,
    whole: bool,
) -> Iterator[tuple[int, Path, np.ndarray | _Unread, object]]:
    """(index, path, decoded page, its summary) in order, decoding `_DECODERS` files at a time
    (the decoders free the GIL); at most that many decoded pages wait. A JPEG file whose
    summary comes from a smaller decode (``reduction_of`` of its size in ``headers``, the
    headers already read) is decoded whole only when ``whole``: else its page is
    `_Unread`."""

    def decode(item: tuple[int, Path]) -> tuple[int, Path, np.ndarray | _Unread, object]:
        k, path = item
        small = None
        if summarise is not None and reduction_of is not None and path in headers:
            small = _reduced_jpeg(Path(path), headers[path], reduction_of)
        if small is not None and not whole:
            page: np.ndarray | _Unread = _Unread(small[1])
        else:
            page = _read_pages(Path(path), first_only=True, probed=True, raw=raw)[0][0]
        summary = None
        if small is not None:
            summary = summarise(_channels_last(small[0]), small[1][:2])
        elif summarise is not None:
            summary = summarise(_channels_last(page), page.shape[:2])
        return k, path, page, summary

    return ordered_map(decode, enumerate(paths), threads=_DECODERS)


# Files decoded at once: three on two cores, since a third frame decoded alone left a core
# idle (a 3 x 2 MP PNG stack: 91 -> 76 ms to decode and summarise; 7 x 3 MP JPEG 84 -> 81 ms).
_DECODERS = 3


def _channels_last(page: np.ndarray) -> np.ndarray:
    return page if page.ndim == 3 else page[..., None]


class _Unread(NamedTuple):
    """A page not decoded (read from its file again later): what storage needs of it."""

    shape: tuple[int, ...]
    dtype: np.dtype = np.dtype(np.uint8)

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _reduced_jpeg(
    path: Path, header: ImageHeader, reduction_of: Callable[[int, int], int]
) -> tuple[np.ndarray, tuple[int, ...]] | None:
    """A JPEG file of ``header``'s size decoded smaller by ``reduction_of(H, W)`` (OpenCV's DCT
    scaling, RGB order, EXIF orientation ignored as in a whole decode) and the page shape it
    stands for; None when the file is not a JPEG or the factor is 1."""
    import cv2

    factor = reduction_of(header.height, header.width)
    if path.suffix.lower() not in REDECODED_SUFFIXES or factor == 1:
        return None
    kind = "GRAYSCALE" if header.channels == 1 else "COLOR"
    flags = getattr(cv2, f"IMREAD_REDUCED_{kind}_{factor}") | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageReadError(f"The file {path} cannot be read: {error.strerror}.") from None
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        image = None
    expected = (-(-header.height // factor), -(-header.width // factor))
    if image is None or image.shape[:2] != expected:
        raise ImageReadError(f"{path} is not a readable PNG, JPEG, BMP or TIFF image.")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    shape = (header.height, header.width) + ((3,) if header.channels == 3 else ())
    return image, shape


def _multipage_stack(path: Path) -> Stack:
    pages, bit_depth = _read_pages(path, first_only=False)
    names = tuple(f"{path.name}[{k}]" for k in range(len(pages)))
    if len(pages) < 2:
        raise StackError(f"Fusion needs at least 2 images; {path} is a single-page TIFF.")
    check_compatible([p.shape for p in pages], names)
    return _assemble(pages, bit_depth, names, [path] * len(pages))


def raw_develop_of(paths: Sequence[Path]) -> RawDevelop | None:
    """The develop shared by the stack's RAW frames (None when it has none)."""
    raw_paths = [path for path in paths if is_raw(path)]
    return develop_settings(raw_paths) if raw_paths else None


def image_header(path: Path) -> ImageHeader | None:
    """The size a file declares, from its header only (None: decoding will tell)."""
    if is_raw(path):
        return ImageHeader(*raw_size(path), 3)
    return probe_image(path)


def _check_before_decoding(
    paths: Sequence[Path], frames_in_memory: int | None = None
) -> dict[Path, ImageHeader]:
    """From the headers alone: every file exists, is under the pixel limit, the sizes agree,
    and the float32 stack (or ``frames_in_memory`` frames of it) fits in the memory
    available. Returns the headers read (files whose header is not recognised left out)."""
    headers = []
    for path in paths:
        _check_readable(path)
        header = image_header(path)
        if header is not None:
            check_pixels(path, header.height, header.width)
            headers.append((path, header))
    if not headers:
        return {}
    first_path, first = headers[0]
    for path, header in headers[1:]:
        if (header.height, header.width) != (first.height, first.width):
            raise StackError(
                f"All images of a stack must have the same size: {first_path.name} is "
                f"{first.width}x{first.height} but {path.name} is {header.width}x{header.height}."
            )
    channels = max(header.channels for _, header in headers)
    count = len(paths) if frames_in_memory is None else min(len(paths), frames_in_memory)
    _check_stack_memory(count, first.height, first.width, channels)
    return dict(headers)


def _check_stack_memory(count: int, height: int, width: int, channels: int) -> None:
    # The float32 stack, plus the decoded pages (up to 16 bits per sample).
    needed = count * height * width * channels * (4 + 2)
    check_memory(needed, f"{count} images of {width}x{height}")


def _assemble(
    pages: Sequence[np.ndarray], bit_depth: int, names: tuple[str, ...], paths: Sequence[Path]
) -> Stack:
    # Convert straight into one preallocated array: large stacks would otherwise be copied.
    height, width = pages[0].shape[:2]
    channels = pages[0].shape[2] if pages[0].ndim == 3 else 1
    stacked = np.empty((len(pages), height, width, channels), dtype=np.float32)
    for page, path, out in zip(pages, paths, stacked, strict=True):
        _unit_float(page, path, out=out.reshape(page.shape))
    return Stack(images=stacked, bit_depth=bit_depth, names=names)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise ImageReadError(f"The file {path} does not exist.")
    if not path.is_file():
        raise ImageReadError(f"{path} is not a file.")


def decode_first_page(path: Path) -> np.ndarray:
    """The samples of a file's first page as decoded, (H, W) or (H, W, C), RGB order; its
    header is not checked again."""
    return _read_pages(path, first_only=True, probed=True)[0][0]


def _read_pages(
    path: Path, *, first_only: bool, probed: bool = False, raw: RawDevelop | None = None
) -> tuple[list[np.ndarray], int]:
    """Decode a file's first page (or all pages); ``probed``: its header was checked already
    (TIFF pages are checked as they are decoded); ``raw``: the stack's RAW develop."""
    _check_readable(path)
    if not probed and path.suffix.lower() not in TIFF_SUFFIXES:
        header = image_header(path)  # before decoding: a small file can claim a huge size
        if header is not None:
            check_pixels(path, header.height, header.width)
    if is_raw(path):  # a DNG starts as a TIFF does: the suffix decides
        return [develop(path, raw)], 16
    try:
        with open(path, "rb") as handle:
            start = handle.read(4)
    except OSError as error:
        raise ImageReadError(f"The file {path} cannot be read: {error.strerror}.") from None
    if path.suffix.lower() in TIFF_SUFFIXES or start in (b"II*\x00", b"MM\x00*"):
        raw_pages = _decode_tiff(path, first_only)
    else:
        raw_pages = [_decode_compressed(path)]
    pages = [_standard_layout(page, path) for page in raw_pages]
    bit_depth = max(bit_depth_of(page.dtype) for page in pages)
    return pages, bit_depth


def _decode_compressed(path: Path) -> np.ndarray:
    """A PNG, JPEG or BMP file's samples, RGB order: PNG and JPEG through imagecodecs
    (libpng, libjpeg-turbo: the same samples as OpenCV's, a 24 MP JPEG in 60 ms instead of
    100, a 2 MP PNG in 27 instead of 38), anything they decline through OpenCV."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageReadError(f"The file {path} cannot be read: {error.strerror}.") from None
    image = _decode_with_imagecodecs(data)
    return _decode_with_opencv(data, path) if image is None else image


def _decode_with_imagecodecs(data: bytes) -> np.ndarray | None:
    """PNG (grey, RGB, with alpha, palette: expanded) or a grey or RGB JPEG; None for other
    files, a CMYK JPEG, or one that fails (OpenCV then decides, and words the error)."""
    import imagecodecs

    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        decode = imagecodecs.png_decode
    elif data.startswith(b"\xff\xd8"):
        decode = imagecodecs.jpeg8_decode
    else:
        return None
    try:
        image = decode(data)
    except Exception:  # noqa: BLE001 - corrupt or unusual: OpenCV's turn
        return None
    if decode is imagecodecs.jpeg8_decode and image.ndim == 3 and image.shape[2] != 3:
        return None  # CMYK: OpenCV converts it to RGB
    return image


def _decode_with_opencv(data: bytes, path: Path) -> np.ndarray:
    import cv2

    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    except cv2.error:  # OpenCV's own limits, or a header it rejects
        image = None
    if image is None:
        raise ImageReadError(f"{path} is not a readable PNG, JPEG, BMP or TIFF image.")
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    elif image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # OpenCV decodes to BGR
    return image


def _decode_tiff(path: Path, first_only: bool) -> list[np.ndarray]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            pages = tiff.pages[:1] if first_only else list(tiff.pages)
            sizes = []
            for page in pages:  # every page, before any is decoded
                shape = getattr(page, "shape", ())
                if len(shape) >= 2:
                    sizes.append(_spatial(shape, page.samplesperpixel))
                    check_pixels(path, *sizes[-1])
            if len(sizes) > 1:
                height, width = max(sizes)
                channels = max(1 if page.samplesperpixel <= 2 else 3 for page in pages)
                _check_stack_memory(len(sizes), height, width, channels)
            images = [np.asarray(page.asarray()) for page in pages]
    except MfifError:
        raise
    except MemoryError:
        raise ImageReadError(f"{path} is too large to decode in the memory available.") from None
    except Exception as error:  # tifffile raises many types for corrupt files
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:100]
        raise ImageReadError(f"{path} is not a readable TIFF image ({reason}).") from None
    if not images:
        raise ImageReadError(f"{path} is a TIFF file with no image in it.")
    return images


def _spatial(shape: tuple[int, ...], samples: int) -> tuple[int, int]:
    """(height, width) of a TIFF page's shape."""
    if samples > 1 and shape[-1] == samples:
        return int(shape[-3]), int(shape[-2])
    return int(shape[-2]), int(shape[-1])


def _standard_layout(image: np.ndarray, path: Path) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB, alpha dropped; samples unchanged."""
    if image.ndim == 3 and image.shape[2] in (2, 4):  # drop alpha
        image = image[..., :-1]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ImageReadError(
            f"{path} has an unsupported layout {image.shape}; expected grey or RGB."
        )
    if not (
        image.dtype in (np.uint8, np.uint16, np.bool_) or np.issubdtype(image.dtype, np.floating)
    ):
        raise ImageReadError(
            f"{path} has samples of type {image.dtype}; mfif reads 8- or 16-bit unsigned "
            "integers or floating point in [0, 1]."
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageReadError(f"{path} is an empty image.")
    return image


def _unit_float(image: np.ndarray, path: Path, out: np.ndarray | None = None) -> np.ndarray:
    return to_unit_float(
        image, str(path), out=out, advice=", or save the file with 8- or 16-bit samples"
    )


def save_image(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    bit_depth: int | None = None,
    protected: Sequence[str | os.PathLike] = (),
    metadata_from: str | os.PathLike | None = None,
) -> Path:
    """Write an image atomically (a temporary file, then a rename; nothing is left on failure).

    Parameters
    ----------
    path : str or path-like
        Target file; the suffix chooses the format (.png, .jpg/.jpeg, .bmp, .tif/.tiff).
    image : ndarray of shape (H, W), (H, W, 1) or (H, W, 3)
        float in [0, 1] (RGB order), or uint8/uint16 written as is.
    bit_depth : {8, 16, 32}, keyword-only, optional
        Sample depth of the file for float input; default 8. JPEG and BMP hold 8 bits, PNG 8
        or 16, TIFF also 32 (float32 samples).
    protected : sequence of path-like, keyword-only
        Files that must not be overwritten (the stack's inputs).
    metadata_from : path-like, keyword-only, optional
        Carry this file's EXIF, IPTC, XMP and ICC profile (the stack's reference frame) into
        a TIFF, PNG or JPEG output.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OutputError
        Unknown suffix, a protected or unwritable path, an unsupported depth or shape.
    """
    payload = encode_image(
        image, Path(path).suffix, bit_depth=bit_depth, metadata_from=metadata_from
    )
    with OutputSet(protected) as outputs:
        target = outputs.file(path)
        outputs.write_bytes(target, payload)
    return target
