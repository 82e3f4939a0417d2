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
    if suffix.lower() in _UNCHANGED_WITHOUT_METADATA and holds_no_metadata(source):
        return payload  # Exiv2 would return it as it is (40 ms, most of it importing Exiv2)
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


# Outputs that Exiv2 returns byte for byte when the source has nothing to copy (it rewrites
# a TIFF's directories whatever it copies).
_UNCHANGED_WITHOUT_METADATA = (".png", ".jpg", ".jpeg")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG chunks Exiv2 reads EXIF, IPTC, XMP or a profile from (text chunks hold the first three).
_PNG_METADATA_CHUNKS = frozenset((b"eXIf", b"iCCP", b"iTXt", b"tEXt", b"zTXt"))
# JPEG segments that carry nothing to copy: JFIF (APP0), Adobe's colour transform (APP14) and
# comments (not copied).
_JPEG_PLAIN_SEGMENTS = frozenset((0xE0, 0xEE, 0xFE))


def holds_no_metadata(source: str | os.PathLike) -> bool:
    """True when ``source`` is a PNG or JPEG file whose structure shows no block of metadata
    (EXIF, IPTC, XMP, ICC profile); False when it has one, is another format, or cannot be
    read that far (then Exiv2 decides)."""
    try:
        with open(source, "rb") as file:
            head = file.read(8)
            if head == _PNG_SIGNATURE:
                return _png_holds_none(file)
            if head[:2] == b"\xff\xd8":
                file.seek(2)
                return _jpeg_holds_none(file)
    except OSError:
        pass
    return False


def _png_holds_none(file) -> bool:
    """Walks the chunks after the signature up to IEND."""
    while True:
        header = file.read(8)
        if len(header) < 8:
            return False  # truncated before IEND
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        if kind in _PNG_METADATA_CHUNKS:
            return False
        if kind == b"IEND":
            return True
        file.seek(length + 4, os.SEEK_CUR)  # the data and its CRC


def _jpeg_holds_none(file) -> bool:
    """Walks the segments after the start of image up to the start of scan."""
    while True:
        marker = file.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return False
        if marker[1] == 0xDA:  # start of scan: the headers are over
            return True
        if marker[1] in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        size = file.read(2)
        if len(size) < 2:
            return False
        if 0xE1 <= marker[1] <= 0xEF and marker[1] not in _JPEG_PLAIN_SEGMENTS:
            return False
        file.seek(int.from_bytes(size, "big") - 2, os.SEEK_CUR)


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
