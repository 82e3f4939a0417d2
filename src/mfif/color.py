"""Colour conversions. Decisions are made on luminance Y of YCbCr (ITU-R BT.601, as OpenCV's
YCrCb); colour is carried by the same per-source weights."""

from __future__ import annotations

import numpy as np

__all__ = ["luminance"]

# ITU-R BT.601 luma coefficients.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


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
    return np.tensordot(images, _LUMA, axes=([-1], [0])).astype(np.float32, copy=False)
