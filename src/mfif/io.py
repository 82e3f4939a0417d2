"""Reading and writing images and stacks: PNG, JPEG, BMP, TIFF; 8/16-bit; grey and RGB; camera
RAW input through `mfif.raw` (the optional ``mfif[raw]`` extra).

Images are returned as float32 in [0, 1], RGB channel order. Writes are atomic (a temporary file
in the target folder, then a rename) and refuse to overwrite an input of the stack.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import ImageReadError, MfifError, OutputError, StackError
from .limits import ImageHeader, check_memory, check_pixels, probe_image
from .metadata import carry_metadata
from .outputs import IMAGE_SUFFIXES, OutputSet
from .raw import RAW_SUFFIXES, RawDevelop, develop, develop_settings, is_raw, raw_size
from .stack import Stack, bit_depth_of, check_compatible, to_unit_float

__all__ = [
    "IMAGE_SUFFIXES",
    "INPUT_SUFFIXES",
    "image_header",
    "read_image",
    "load_stack",
    "expand_inputs",
    "save_image",
    "encode_image",
    "output_bit_depth",
    "check_bit_depth",
    "to_integer",
]

_logger = logging.getLogger(__name__)

_TIFF_SUFFIXES = (".tif", ".tiff")
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
    _check_before_decoding(paths)
    raw = raw_develop_of(paths)
    with ThreadPoolExecutor(max_workers=min(4, len(paths))) as pool:
        reading = pool.map(
            lambda path: _read_pages(path, first_only=True, probed=True, raw=raw), paths
        )
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


def raw_develop_of(paths: Sequence[Path]) -> RawDevelop | None:
    """The develop shared by the stack's RAW frames (None when it has none)."""
    raw_paths = [path for path in paths if is_raw(path)]
    return develop_settings(raw_paths) if raw_paths else None


def image_header(path: Path) -> ImageHeader | None:
    """The size a file declares, from its header only (None: decoding will tell)."""
    if is_raw(path):
        return ImageHeader(*raw_size(path), 3)
    return probe_image(path)


def _check_before_decoding(paths: Sequence[Path], frames_in_memory: int | None = None) -> None:
    """From the headers alone: every file exists, is under the pixel limit, the sizes agree,
    and the float32 stack (or ``frames_in_memory`` frames of it) fits in the memory
    available."""
    headers = []
    for path in paths:
        _check_readable(path)
        header = image_header(path)
        if header is not None:
            check_pixels(path, header.height, header.width)
            headers.append((path, header))
    if not headers:
        return
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


def _read_pages(
    path: Path, *, first_only: bool, probed: bool = False, raw: RawDevelop | None = None
) -> tuple[list[np.ndarray], int]:
    """Decode a file's first page (or all pages); ``probed``: its header was checked already
    (TIFF pages are checked as they are decoded); ``raw``: the stack's RAW develop."""
    _check_readable(path)
    if not probed and path.suffix.lower() not in _TIFF_SUFFIXES:
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
    if path.suffix.lower() in _TIFF_SUFFIXES or start in (b"II*\x00", b"MM\x00*"):
        raw_pages = _decode_tiff(path, first_only)
    else:
        raw_pages = [_decode_with_opencv(path)]
    pages = [_standard_layout(page, path) for page in raw_pages]
    bit_depth = max(bit_depth_of(page.dtype) for page in pages)
    return pages, bit_depth


def _decode_with_opencv(path: Path) -> np.ndarray:
    import cv2

    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageReadError(f"The file {path} cannot be read: {error.strerror}.") from None
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


SUPPORTED_BIT_DEPTHS = {
    ".png": (8, 16),
    ".tif": (8, 16, 32),
    ".tiff": (8, 16, 32),
    ".jpg": (8,),
    ".jpeg": (8,),
    ".bmp": (8,),
}


def output_bit_depth(suffix: str, wanted: int) -> int:
    """The deepest bit depth up to ``wanted`` that a file with ``suffix`` holds (for an output
    that follows its inputs: a float stack saved as PNG becomes 16-bit, as JPEG 8-bit)."""
    return max(depth for depth in SUPPORTED_BIT_DEPTHS.get(suffix.lower(), (8,)) if depth <= wanted)


def check_bit_depth(suffix: str, bit_depth: int) -> None:
    """Raise `OutputError` unless a file with ``suffix`` can hold ``bit_depth`` bits."""
    supported = SUPPORTED_BIT_DEPTHS.get(suffix.lower(), (8,))
    if bit_depth not in supported:
        names = {8: "8-bit", 16: "16-bit", 32: "32-bit float"}
        kind = suffix.lstrip(".").upper()
        raise OutputError(
            f"A {kind} file cannot hold {names.get(bit_depth, f'{bit_depth}-bit')} samples; it "
            f"holds {' or '.join(names[d] for d in supported)} ones (32-bit float: .tif)."
        )


def encode_image(
    image: np.ndarray,
    suffix: str,
    *,
    bit_depth: int | None = None,
    metadata_from: str | os.PathLike | None = None,
) -> bytes:
    """Encode an image as the bytes of a file with ``suffix``.

    Parameters
    ----------
    image : ndarray of shape (H, W), (H, W, 1) or (H, W, 3)
        float in [0, 1] (RGB order; the same policy as for input, `mfif.stack.to_unit_float`),
        or uint8/uint16 written as they are.
    suffix : {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
    bit_depth : {8, 16, 32}, optional
        Sample depth of the file for float input (default 8); 32 writes float32 TIFF. Integer
        images keep their own depth.
    metadata_from : path-like, optional
        An image file whose EXIF, IPTC, XMP and ICC profile the output carries (TIFF, PNG and
        JPEG; `mfif.metadata`).

    Raises
    ------
    OutputError
        A shape or sample type that is not an image, or a depth the format cannot hold.
    StackError
        Float samples that are NaN, infinite, or outside [0, 1].
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise OutputError(
            f"Cannot write an array of shape {image.shape} as an image; expected (H, W), "
            "(H, W, 1) or (H, W, 3)."
        )
    if image.size == 0:
        raise OutputError(f"Cannot write an empty image (shape {image.shape}).")
    if image.dtype in (np.uint8, np.uint16):
        bit_depth = 8 if image.dtype == np.uint8 else 16
        check_bit_depth(suffix, bit_depth)
        samples = image
    elif image.dtype == np.bool_ or np.issubdtype(image.dtype, np.floating):
        bit_depth = 8 if bit_depth is None else bit_depth
        check_bit_depth(suffix, bit_depth)
        unit = to_unit_float(image, "The image to write")
        samples = unit if bit_depth == 32 else to_integer(unit, bit_depth)
    else:
        raise OutputError(
            f"Cannot write samples of type {image.dtype}; give uint8, uint16 or float in [0, 1]."
        )
    payload = _encode(samples, suffix.lower())
    if metadata_from is not None:
        payload = carry_metadata(payload, suffix, metadata_from, samples.shape[:2])
    return payload


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


def _encode(samples: np.ndarray, suffix: str) -> bytes:
    if suffix in _TIFF_SUFFIXES:
        import io as _bytes_io

        import tifffile

        buffer = _bytes_io.BytesIO()
        photometric = "rgb" if samples.ndim == 3 else "minisblack"
        # metadata=None: no shape description, which carried metadata could contradict.
        tifffile.imwrite(
            buffer, samples, photometric=photometric, compression="zlib", metadata=None
        )
        return buffer.getvalue()
    import cv2

    if suffix not in SUPPORTED_BIT_DEPTHS:
        raise OutputError(
            f"Cannot write a {suffix or 'suffix-less'} file; the file name must end in one of "
            f"{', '.join(IMAGE_SUFFIXES)}."
        )
    bgr = samples[..., ::-1] if samples.ndim == 3 else samples
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(bgr))
    if not ok:
        raise OutputError(f"Cannot encode the result as {suffix}.")
    return encoded.tobytes()
