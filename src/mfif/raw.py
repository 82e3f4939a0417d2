"""Camera RAW frames, developed to linear 16-bit RGB with LibRaw (through ``rawpy``, the optional
``mfif[raw]`` extra).

The develop is the same for every frame of a stack, so that fusion compares like with like:

- white balance: the multipliers the camera recorded for the stack's reference frame (the
  middle one, as for alignment), applied to every frame; a camera that re-measured white
  balance between frames would otherwise tint each frame differently;
- no automatic brightening, no exposure shift, highlights clipped (LibRaw's default);
- linear output (gamma 1, no tone curve) in sRGB primaries, 16 bits per sample; values stay
  proportional to the light, which fusion and later processing expect;
- AHD demosaicing (LibRaw's default), full size;
- no rotation: pixels are kept as the sensor stored them and the orientation stays in the
  EXIF data that is carried to the output, as for JPEG and TIFF input.

The result carries no ICC profile (a RAW file has none); it is linear sRGB.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ImageReadError

__all__ = ["RAW_SUFFIXES", "RawDevelop", "is_raw", "develop_settings", "develop", "raw_size"]

# The RAW formats LibRaw reads that cameras write most.
RAW_SUFFIXES = (
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2",
    ".raf", ".pef", ".srw", ".x3f", ".3fr", ".fff", ".iiq", ".mos", ".erf", ".kdc", ".mrw",
    ".rwl",
)  # fmt: skip

_EXTRA = "pip install 'mfif[raw]'"


@dataclass(frozen=True)
class RawDevelop:
    """Settings of the linear develop shared by every frame of a stack.

    Attributes
    ----------
    white_balance : tuple of 4 floats
        Multipliers for the R, G, B and second G samples of the sensor.
    """

    white_balance: tuple[float, float, float, float]


def is_raw(path: str | os.PathLike) -> bool:
    """True when the file name ends in a camera RAW suffix (`RAW_SUFFIXES`)."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


def _rawpy(path: Path):
    try:
        import rawpy
    except ImportError:
        raise ImageReadError(
            f"{path} is a camera RAW file; reading RAW files needs the optional extra: {_EXTRA}."
        ) from None
    return rawpy


def _opened(path: Path):
    """A rawpy handle with the file opened (header parsed, nothing decoded)."""
    rawpy = _rawpy(path)
    handle = rawpy.RawPy()
    try:
        handle.open_file(os.fspath(path))
    except (rawpy.LibRawError, OSError) as error:
        handle.close()
        reason = str(error).strip() or type(error).__name__
        raise ImageReadError(f"{path} is not a readable camera RAW file ({reason}).") from None
    return handle


def raw_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of the developed image, read from the RAW header only."""
    handle = _opened(Path(path))
    try:
        sizes = handle.sizes
        return int(sizes.height), int(sizes.width)
    finally:
        handle.close()


def develop_settings(
    paths: Sequence[str | os.PathLike], reference: int | None = None
) -> RawDevelop:
    """The develop of a stack: the as-shot white balance of its reference frame.

    Parameters
    ----------
    paths : sequence of path-like
        The stack's frames (RAW files).
    reference : int, optional
        Index of the reference frame; default the middle one, ``len(paths) // 2``.
    """
    path = Path(paths[len(paths) // 2 if reference is None else reference])
    handle = _opened(path)
    try:
        red, green, blue, green2 = (float(v) for v in handle.camera_whitebalance)
    finally:
        handle.close()
    if not (red > 0 and green > 0 and blue > 0):  # no as-shot record: LibRaw's daylight
        handle = _opened(path)
        try:
            red, green, blue, green2 = (float(v) for v in handle.daylight_whitebalance)
        finally:
            handle.close()
    return RawDevelop((red, green, blue, green2 if green2 > 0 else green))


def develop(path: str | os.PathLike, settings: RawDevelop | None = None) -> np.ndarray:
    """Develop one RAW file to linear RGB.

    Parameters
    ----------
    path : path-like
        A camera RAW file LibRaw reads.
    settings : RawDevelop, optional
        The stack's shared develop; default that of this file alone (its as-shot white
        balance).

    Returns
    -------
    ndarray of shape (H, W, 3), uint16
        Linear sRGB-primaries samples, 0 to 65535.

    Raises
    ------
    ImageReadError
        rawpy is not installed, or the file is missing, unsupported or corrupt.
    """
    path = Path(path)
    settings = settings or develop_settings([path])
    rawpy = _rawpy(path)
    handle = _opened(path)
    try:
        handle.unpack()
        return handle.postprocess(
            user_wb=list(settings.white_balance),
            no_auto_bright=True,
            bright=1.0,
            gamma=(1.0, 1.0),
            output_color=rawpy.ColorSpace.sRGB,
            output_bps=16,
            user_flip=0,
            demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD,
        )
    except (rawpy.LibRawError, OSError) as error:
        reason = str(error).strip() or type(error).__name__
        raise ImageReadError(f"{path} is not a readable camera RAW file ({reason}).") from None
    except MemoryError:
        raise ImageReadError(f"{path} is too large to develop in the memory available.") from None
    finally:
        handle.close()
