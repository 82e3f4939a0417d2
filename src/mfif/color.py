"""Colour conversions. Decisions are made on luminance Y of YCbCr (ITU-R BT.601, as OpenCV's
YCrCb); colour is carried by the same per-source weights."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["luminance", "sample_luminance", "plane_of_samples"]

# ITU-R BT.601 luma coefficients.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luminance(images: np.ndarray) -> np.ndarray:
    """Luma Y of RGB images, or the single channel of grey ones.

    Parameters
    ----------
    images : ndarray of shape (..., C), float32 in [0, 1]
        C is 1 (grey) or 3 (RGB).

    Returns
    -------
    ndarray of shape (...), float32 in [0, 1]
    """
    if images.shape[-1] == 1:
        return images[..., 0]
    if images.dtype == np.float32 and images.ndim in (3, 4):
        import cv2  # several times faster than a numpy dot product

        planes = images.reshape(-1, *images.shape[-3:]) if images.ndim == 4 else images[None]
        luma = np.empty(planes.shape[:-1], dtype=np.float32)
        for plane, out in zip(planes, luma, strict=True):
            cv2.cvtColor(plane, cv2.COLOR_RGB2GRAY, dst=out)
        return luma.reshape(images.shape[:-1])
    return np.tensordot(images, LUMA_WEIGHTS, axes=([-1], [0])).astype(np.float32, copy=False)


_BLOCK_ROWS = 256


def plane_of_samples(
    samples: np.ndarray, plane_of: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """``plane_of`` (rows, W, C) float32 in [0, 1] -> (rows, W) applied to an image as stored
    (uint8, uint16 or float in [0, 1]), converted to [0, 1] a block of rows at a time: the
    same values as from the whole image, without a full-size float copy.

    Parameters
    ----------
    samples : ndarray of shape (H, W, C)
    plane_of : callable

    Returns
    -------
    ndarray of shape (H, W), float32
    """
    from .stack import to_unit_float

    height = samples.shape[0]
    out = np.empty(samples.shape[:2], np.float32)
    for start in range(0, height, _BLOCK_ROWS):
        stop = min(height, start + _BLOCK_ROWS)
        out[start:stop] = plane_of(to_unit_float(samples[start:stop], "image"))
    return out


def sample_luminance(samples: np.ndarray) -> np.ndarray:
    """`luminance` of an image as stored (uint8, uint16 or float in [0, 1]), (H, W, C) ->
    (H, W) float32 in [0, 1], without a full-size float copy (`plane_of_samples`)."""
    return plane_of_samples(samples, luminance)
