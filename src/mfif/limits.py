"""Limits that protect the machine: a pixel limit per image and a memory check per stack.

An image file's header can claim any size: a 400 KB PNG may decode to 20000x20000 pixels. So
the size is read from the header first (`probe_image`, which decodes nothing) and refused
above the pixel limit, and a stack is refused when its float32 copy would not fit in the
memory the system has available.

The limit is 250 megapixels per image. Raise it (or switch it off with 0) through the
environment variable ``MFIF_MAX_PIXELS``, e.g. ``MFIF_MAX_PIXELS=1000000000 mfif fuse ...``.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import NamedTuple

from .errors import ImageReadError, OptionError, StackError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageHeader",
    "max_pixels",
    "probe_image",
    "check_pixels",
    "available_memory",
    "check_memory",
]

DEFAULT_MAX_PIXELS = 250_000_000
_VARIABLE = "MFIF_MAX_PIXELS"


class ImageHeader(NamedTuple):
    """Size of an image as its file header states it."""

    height: int
    width: int
    channels: int  # 1 grey, 3 colour (alpha dropped), as mfif will load it


def max_pixels() -> int | None:
    """The pixel limit per image: ``MFIF_MAX_PIXELS`` if set (0 = none), else 250 million."""
    text = os.environ.get(_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0 and value == int(value)):
        raise OptionError(
            f"{_VARIABLE} must be a whole number of pixels (0 = no limit); got {text!r}."
        )
    return int(value) or None


def check_pixels(path: str | os.PathLike, height: int, width: int) -> None:
    """Raise `ImageReadError` if an image of ``height`` x ``width`` is over the pixel limit or
    empty."""
    if height <= 0 or width <= 0:
        raise ImageReadError(f"{path} is an empty image ({width}x{height} pixels).")
    limit = max_pixels()
    if limit is not None and height * width > limit:
        raise ImageReadError(
            f"{path} is {width}x{height} pixels ({height * width / 1e6:.0f} megapixels), more "
            f"than the limit of {limit / 1e6:.0f} megapixels; set {_VARIABLE} to a higher "
            "number of pixels (0 = no limit) to read it."
        )


def probe_image(path: str | os.PathLike) -> ImageHeader | None:
    """The size a PNG, JPEG, BMP or TIFF file declares, read from its header only.

    Returns None when the header is not recognised (decoding then reports the problem).
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            start = handle.read(32)
            if start.startswith(b"\x89PNG\r\n\x1a\n"):
                return _png(start)
            if start.startswith(b"BM"):
                return _bmp(start)
            if start.startswith(b"\xff\xd8"):
                return _jpeg(handle)
            if start[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                return _tiff(path)
    except (OSError, struct.error, ValueError):
        return None
    return None


def _png(start: bytes) -> ImageHeader | None:
    if start[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", start[16:24])
    color_type = start[25]
    return ImageHeader(height, width, 1 if color_type in (0, 4) else 3)


def _bmp(start: bytes) -> ImageHeader | None:
    if len(start) < 26:
        return None
    width, height = struct.unpack("<ii", start[18:26])
    return ImageHeader(abs(height), abs(width), 3)


def _jpeg(handle) -> ImageHeader | None:
    handle.seek(2)
    while True:
        marker = handle.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            handle.seek(-1, os.SEEK_CUR)
            continue
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:  # markers without a length
            continue
        (length,) = struct.unpack(">H", handle.read(2))
        if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):  # start of frame
            _, height, width, components = struct.unpack(">BHHB", handle.read(6))
            return ImageHeader(height, width, 1 if components == 1 else 3)
        handle.seek(length - 2, os.SEEK_CUR)


def _tiff(path: Path) -> ImageHeader | None:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages[0]
            shape = page.shape
            samples = page.samplesperpixel
    except Exception:  # noqa: BLE001 - decoding reports a corrupt file properly
        return None
    if len(shape) < 2:
        return None
    height, width = (shape[-3], shape[-2]) if samples > 1 and shape[-1] == samples else shape[-2:]
    return ImageHeader(int(height), int(width), 1 if samples in (1, 2) else 3)


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(needed: int, what: str) -> None:
    """Raise `StackError` if ``needed`` bytes exceed the memory available now.

    ``what`` completes "Loading ..." in the message, e.g. "12 images of 6000x4000".
    """
    available = available_memory()
    if available is not None and needed > available:
        raise StackError(
            f"Loading {what} needs about {needed / 2**30:.1f} GiB of memory, but only "
            f"{available / 2**30:.1f} GiB is available; use fewer or smaller images."
        )
