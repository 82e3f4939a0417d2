"""The reference frame's metadata carried to the fused image: EXIF (camera, lens, exposure, date,
GPS, maker notes), IPTC, XMP and the ICC colour profile, for TIFF, PNG and JPEG outputs.

Exiv2 (through ``pyexiv2``) copies the blocks as they are. What described the source file
rather than the scene is left out: its image structure (size, sample layout, strips, a RAW
file's sensor tags), its thumbnail and sub-images; the pixel dimensions and the software are
set to the output's. The orientation tag is kept: mfif reads pixels as stored, so the output
needs the same rotation the source did.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

__all__ = ["METADATA_SUFFIXES", "carry_metadata"]

_logger = logging.getLogger(__name__)

# Exiv2's XMP parser keeps global state: one copy at a time when threads fuse side by side
# (a batch on a threaded cluster).
_EXIV2 = threading.Lock()

# Outputs Exiv2 writes every block into (BMP holds none).
METADATA_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")

# Tags of the first directory that describe the scene or its capture; the rest of
# "Exif.Image.*" describes the file (size, samples, strips, tiles, a DNG's sensor) and stays out.
_SCENE_TAGS = frozenset(
    "Exif.Image." + name
    for name in (
        "Make", "Model", "Orientation", "DateTime", "DateTimeOriginal", "Artist", "Copyright",
        "ImageDescription", "XResolution", "YResolution", "ResolutionUnit", "HostComputer",
        "Rating", "RatingPercent", "ImageUniqueID", "CameraSerialNumber", "LensInfo",
        "UniqueCameraModel", "ExifTag", "GPSTag", "InterColorProfile", "XMLPacket",
        "IPTCNAA", "ImageHistory",
    )
)  # fmt: skip


def carry_metadata(
    payload: bytes, suffix: str, source: str | os.PathLike, size: tuple[int, int]
) -> bytes:
    """Copy the metadata of ``source`` into an encoded image.

    Parameters
    ----------
    payload : bytes
        The encoded output file.
    suffix : str
        Its format (".tif", ".png", ".jpg", ...); other formats are returned unchanged.
    source : path-like
        The reference frame whose metadata is carried.
    size : (height, width)
        Of the output, for the EXIF pixel dimensions.

    Returns
    -------
    bytes
        The file with the metadata; ``payload`` unchanged (and a warning logged) when the
        source's metadata cannot be read or the format holds none.
    """
    if suffix.lower() not in METADATA_SUFFIXES:
        return payload
    try:
        import pyexiv2
    except ImportError:  # a platform without its wheel: fusion still works
        _logger.warning("pyexiv2 is not installed: the output carries no metadata.")
        return payload
    with _EXIV2:
        carried = _copied(pyexiv2, payload, suffix, source, size)
    if carried is not None and suffix.lower() == ".png":
        carried = _name_png_profile(carried)
    return payload if carried is None else carried


def _copied(pyexiv2, payload: bytes, suffix: str, source, size: tuple[int, int]) -> bytes | None:
    pyexiv2.set_log_level(4)  # Exiv2 writes warnings to stderr otherwise
    try:
        with pyexiv2.Image(os.fspath(source)) as reference:
            target = pyexiv2.ImageData(payload)
            try:
                has_profile = bool(reference.read_icc())  # Exiv2 refuses to copy an absent one
                reference.copy_to_another_image(
                    target, exif=True, iptc=True, xmp=True, comment=False, icc=has_profile,
                    thumbnail=False,
                )  # fmt: skip
                _describe_output(target, size, tiff=suffix.lower() in (".tif", ".tiff"))
                carried = target.get_bytes()
            finally:
                target.close()
    except RuntimeError as error:  # Exiv2's errors: unreadable or unsupported source
        _logger.warning("The metadata of %s is not carried over (%s).", Path(source).name, error)
        return None
    return carried


def _describe_output(target, size: tuple[int, int], tiff: bool) -> None:
    from ._version import __version__

    exif = target.read_exif()
    changes: dict[str, str | None] = {
        key: None
        for key in exif
        if (key.startswith("Exif.Image.") and key not in _SCENE_TAGS)
        or key.startswith(("Exif.Thumbnail.", "Exif.SubImage", "Exif.Image2.", "Exif.Image3."))
    }
    if not tiff:  # PNG and JPEG hold the profile in their own chunk, not in EXIF
        changes["Exif.Image.InterColorProfile"] = None
    if exif.get("Exif.Image.ImageDescription", "").startswith('{"shape":'):
        changes["Exif.Image.ImageDescription"] = None  # tifffile's array shape, not a caption
    if exif:
        changes["Exif.Image.Software"] = f"mfif {__version__}"
    if "Exif.Photo.PixelXDimension" in exif:
        changes["Exif.Photo.PixelXDimension"] = str(size[1])
        changes["Exif.Photo.PixelYDimension"] = str(size[0])
    if changes:
        target.modify_exif(changes)


def _name_png_profile(payload: bytes) -> bytes:
    """Give an unnamed iCCP chunk a name: PNG requires one (libpng ignores the profile
    without it), and Exiv2 leaves it empty when the profile came from a TIFF or JPEG."""
    import struct
    import zlib

    position = 8
    while position + 8 <= len(payload):
        length, kind = struct.unpack(">I4s", payload[position : position + 8])
        end = position + 12 + length
        if kind == b"iCCP":
            data = payload[position + 8 : position + 8 + length]
            if not data.startswith(b"\x00"):
                return payload
            data = b"ICC profile" + data
            chunk = struct.pack(">I4s", len(data), kind) + data
            chunk += struct.pack(">I", zlib.crc32(chunk[4:]) & 0xFFFFFFFF)
            return payload[:position] + chunk + payload[end:]
        if kind == b"IDAT":
            return payload
        position = end
    return payload
