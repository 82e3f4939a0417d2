"""Encoding images as file bytes: PNG, JPEG, BMP, TIFF; 8/16-bit and float32 TIFF; the bit-depth
policy of outputs; metadata carried from an input (`mfif.metadata`)."""

from __future__ import annotations

import os

import numpy as np

from .errors import OutputError
from .metadata import carry_metadata
from .stack import check_unit_range, to_unit_float

__all__ = [
    "IMAGE_SUFFIXES",
    "TIFF_SUFFIXES",
    "SUPPORTED_BIT_DEPTHS",
    "to_integer",
    "output_bit_depth",
    "check_bit_depth",
    "encode_image",
    "tiff_bytes",
]

# The formats mfif writes (and reads, with camera RAW).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
TIFF_SUFFIXES = (".tif", ".tiff")


def to_integer(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """Round a float image in [0, 1] to uint8 (``bit_depth=8``) or uint16 (``bit_depth=16``)."""
    if bit_depth == 8 and image.dtype == np.float32 and image.ndim <= 3:
        import cv2  # rounds and saturates in one pass, without float temporaries

        flat = image.reshape(image.shape[0], -1) if image.ndim == 3 else image
        # convertScaleAbs takes absolute values, which round to 0 above -0.5/255 (float
        # rounding's tiny negatives): only lower ones need clipping first.
        if flat.min() < -0.5 / 255:
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
        if bit_depth == 8 and image.dtype == np.float32:
            # Checked, not clipped: the rounding to 8 bits saturates, without a float copy.
            check_unit_range(image, "The image to write")
            samples = to_integer(image, 8)
        else:
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


def tiff_bytes(samples: np.ndarray, *, description: str | None = None) -> bytes:
    """The bytes of a TIFF file holding ``samples`` as they are.

    Deflate at zlib's fastest level after horizontal differencing (TIFF predictor 2; integer
    samples only, the floating-point predictor being less widely read), in strips of 256 rows
    compressed on two cores. 24 MP RGB, against one strip at level 6 without the predictor:
    8 bits 0.59 -> 0.14 s and 20.3 -> 11.5 MB, 16 bits 1.14 -> 0.25 s and 42.7 -> 15.6 MB.

    Parameters
    ----------
    samples : ndarray of shape (H, W) or (H, W, 3), uint8, uint16 or float32
    description : str, optional
        The ImageDescription tag; none by default (no shape description either, which
        carried metadata could contradict).

    Returns
    -------
    bytes
    """
    import io

    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        samples,
        photometric="rgb" if samples.ndim == 3 else "minisblack",
        description=description,
        metadata=None,
        predictor=bool(np.issubdtype(samples.dtype, np.integer)),
        compression="zlib",
        compressionargs={"level": 1},
        rowsperstrip=256,
        maxworkers=2,
    )
    return buffer.getvalue()


def _encode(samples: np.ndarray, suffix: str) -> bytes:
    if suffix in TIFF_SUFFIXES:
        return tiff_bytes(samples)
    if suffix == ".png":
        from .png import encode_png

        return encode_png(samples)
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
