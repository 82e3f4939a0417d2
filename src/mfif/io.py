"""Reading and writing images and stacks: PNG, JPEG, BMP, TIFF; 8/16-bit; grey and RGB.

Images are returned as float32 in [0, 1], RGB channel order. Writes are atomic (a temporary file
in the target folder, then a rename) and refuse to overwrite an input of the stack.
"""

from __future__ import annotations

import glob
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import ImageReadError, OutputError, StackError
from .stack import Stack, check_compatible

__all__ = [
    "IMAGE_SUFFIXES",
    "read_image",
    "load_stack",
    "expand_inputs",
    "save_image",
    "check_output_path",
    "to_integer",
]

_logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_TIFF_SUFFIXES = (".tif", ".tiff")
_SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read one image file.

    Parameters
    ----------
    path : str or path-like
        A PNG, JPEG, BMP or TIFF file (the first page of a multi-page TIFF).

    Returns
    -------
    image : ndarray of shape (H, W) or (H, W, 3), float32 in [0, 1]
        RGB channel order; an alpha channel is dropped.
    bit_depth : {8, 16}
    """
    pages, bit_depth = _read_pages(Path(path), first_only=True)
    return _to_unit_float(pages[0], Path(path)), bit_depth


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Turn files, folders and glob patterns into a sorted-per-item list of image files.

    A folder contributes its image files (by suffix) in name order; a pattern that is not an
    existing path is expanded as a glob. Order between items is kept.
    """
    paths: list[Path] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageReadError(
                    f"The folder {text} contains no PNG, JPEG, BMP or TIFF images."
                )
            paths.extend(found)
        elif not path.exists() and glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
            if not found:
                raise ImageReadError(f"The pattern {text} matches no file.")
            paths.extend(found)
        else:
            paths.append(path)
    return paths


def load_stack(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike, *, progress: bool = False
) -> Stack:
    """Read a focus stack from files, folders, glob patterns or one multi-page TIFF.

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
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = expand_inputs(inputs)
    if len(paths) == 1 and paths[0].suffix.lower() in _TIFF_SUFFIXES:
        pages, bit_depth = _read_pages(paths[0], first_only=False)
        names = tuple(f"{paths[0].name}[{k}]" for k in range(len(pages)))
        if len(pages) < 2:
            raise StackError(f"Fusion needs at least 2 images; {paths[0]} is a single-page TIFF.")
        check_compatible([p.shape for p in pages], names)
        return _assemble(pages, bit_depth, names, [paths[0]] * len(pages))
    if len(paths) < 2:
        raise StackError(
            f"Fusion needs at least 2 images of the same scene; got {len(paths)} ({paths[0]})."
            if paths
            else "Fusion needs at least 2 images of the same scene; got none."
        )
    with ThreadPoolExecutor(max_workers=min(4, len(paths))) as pool:
        reading = pool.map(lambda path: _read_pages(path, first_only=True), paths)
        if progress and len(paths) >= 8:  # short stacks load too fast for a bar to help
            from tqdm import tqdm

            # disable=None: only on a terminal, so logs and pipes stay clean.
            reading = tqdm(
                reading, total=len(paths), desc="reading", unit="image", leave=False, disable=None
            )
        results = list(reading)
    pages = [page[0] for page, _ in results]
    names = tuple(p.name for p in paths)
    check_compatible([page.shape for page in pages], names)
    return _assemble(pages, max(depth for _, depth in results), names, paths)


def _assemble(
    pages: Sequence[np.ndarray], bit_depth: int, names: tuple[str, ...], paths: Sequence[Path]
) -> Stack:
    # Convert straight into one preallocated array: large stacks would otherwise be copied.
    height, width = pages[0].shape[:2]
    channels = pages[0].shape[2] if pages[0].ndim == 3 else 1
    stacked = np.empty((len(pages), height, width, channels), dtype=np.float32)
    for page, path, out in zip(pages, paths, stacked, strict=True):
        _to_unit_float(page, path, out=out.reshape(page.shape))
    return Stack(images=stacked, bit_depth=bit_depth, names=names)


def _read_pages(path: Path, *, first_only: bool) -> tuple[list[np.ndarray], int]:
    if not path.exists():
        raise ImageReadError(f"The file {path} does not exist.")
    if not path.is_file():
        raise ImageReadError(f"{path} is not a file.")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageReadError(f"The file {path} cannot be read: {error.strerror}.") from None
    if path.suffix.lower() in _TIFF_SUFFIXES or data[:4] in (b"II*\x00", b"MM\x00*"):
        raw_pages = _decode_tiff(path, first_only)
    else:
        raw_pages = [_decode_with_opencv(path, data)]
    pages = [_standard_layout(page, path) for page in raw_pages]
    bit_depth = 16 if any(page.dtype == np.uint16 for page in raw_pages) else 8
    return pages, bit_depth


def _decode_with_opencv(path: Path, data: bytes) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
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
            images = [np.asarray(page.asarray()) for page in pages]
    except Exception as error:  # tifffile raises many types for corrupt files
        raise ImageReadError(f"{path} is not a readable TIFF image ({error}).") from None
    if not images:
        raise ImageReadError(f"{path} is a TIFF file with no image in it.")
    return images


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
        raise ImageReadError(f"{path} has unsupported sample type {image.dtype}; use 8 or 16 bits.")
    return image


def _to_unit_float(image: np.ndarray, path: Path, out: np.ndarray | None = None) -> np.ndarray:
    """Samples scaled to float32 in [0, 1], written into ``out`` when given."""
    if out is None:
        out = np.empty(image.shape, dtype=np.float32)
    if image.dtype == np.uint8:
        np.multiply(image, np.float32(1 / 255), out=out)
    elif image.dtype == np.uint16:
        np.multiply(image, np.float32(1 / 65535), out=out)
    elif image.dtype == np.bool_:
        out[...] = image
    else:
        np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0, out=out)
    return out


def to_integer(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """Round a float image in [0, 1] to uint8 (``bit_depth=8``) or uint16 (``bit_depth=16``)."""
    if bit_depth == 8 and image.dtype == np.float32 and image.ndim <= 3:
        import cv2  # rounds and saturates in one pass, without float temporaries

        flat = image.reshape(image.shape[0], -1) if image.ndim == 3 else image
        if flat.min() < 0.0:  # convertScaleAbs takes absolute values
            flat = np.maximum(flat, 0.0)
        return cv2.convertScaleAbs(flat, alpha=255.0).reshape(image.shape)
    scale, dtype = (255.0, np.uint8) if bit_depth == 8 else (65535.0, np.uint16)
    scaled = np.clip(image, 0.0, 1.0) * np.float32(scale)
    return np.rint(scaled, out=scaled).astype(dtype)


def save_image(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    bit_depth: int = 8,
    protected: Sequence[str | os.PathLike] = (),
) -> Path:
    """Write an image atomically.

    Parameters
    ----------
    path : str or path-like
        Target file; the suffix chooses the format (.png, .jpg/.jpeg, .bmp, .tif/.tiff).
    image : ndarray of shape (H, W), (H, W, 1) or (H, W, 3)
        float in [0, 1] (RGB order), or uint8/uint16 written as is.
    bit_depth : {8, 16}, keyword-only
        Sample depth of the file for float input. JPEG and BMP hold 8 bits only; asking
        them for 16 writes 8 bits and logs a warning.
    protected : sequence of path-like, keyword-only
        Files that must not be overwritten (the stack's inputs).

    Returns
    -------
    Path
        The written file.
    """
    target = check_output_path(path, protected)
    suffix = target.suffix.lower()
    if bit_depth not in (8, 16):
        raise OutputError(f"bit_depth must be 8 or 16; got {bit_depth}.")
    if bit_depth == 16 and suffix not in _SIXTEEN_BIT_SUFFIXES:
        _logger.warning("%s holds 8 bits per sample only; writing 8-bit.", suffix)
        bit_depth = 8
    if image.dtype in (np.uint8, np.uint16):
        samples = image
    else:
        samples = to_integer(image, bit_depth)
    if samples.ndim == 3 and samples.shape[2] == 1:
        samples = samples[..., 0]
    folder = target.parent
    payload = _encode(samples, suffix, target)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"Cannot write {target}: {error.strerror}.") from None
    return target


def check_output_path(path: str | os.PathLike, protected: Sequence[str | os.PathLike] = ()) -> Path:
    """Return ``path`` as a Path if an image can be written there without overwriting an input.

    Raises
    ------
    OutputError
        Unknown image suffix, or ``path`` is one of ``protected``.
    """
    target = Path(path)
    if target.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputError(
            f"Cannot write {target}: the file name must end in one of {', '.join(IMAGE_SUFFIXES)}."
        )
    for other in protected:
        if _same_file(target, Path(other)):
            raise OutputError(
                f"Refusing to overwrite the input {other}; choose another output path."
            )
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"Cannot write {target}: the folder {folder} does not exist.")
    return target


def _encode(samples: np.ndarray, suffix: str, target: Path) -> bytes:
    if suffix in _TIFF_SUFFIXES:
        import io as _bytes_io

        import tifffile

        buffer = _bytes_io.BytesIO()
        photometric = "rgb" if samples.ndim == 3 else "minisblack"
        tifffile.imwrite(buffer, samples, photometric=photometric, compression="zlib")
        return buffer.getvalue()
    import cv2

    bgr = samples[..., ::-1] if samples.ndim == 3 else samples
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(bgr))
    if not ok:
        raise OutputError(f"Cannot encode the result as {suffix} for {target}.")
    return encoded.tobytes()


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        pass
    return os.path.abspath(a) == os.path.abspath(b)
