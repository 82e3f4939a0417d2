"""Focus measures: how sharp each source is around each pixel.

Every measure takes a luminance stack of shape (N, H, W), float32 in [0, 1], and returns a
score stack of the same shape where larger means better focused.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "gradient_magnitude",
    "laplacian_energy",
    "reblur_detail",
    "window_mean",
]


def gradient_magnitude(luma: np.ndarray) -> np.ndarray:
    """Pixel-wise gradient magnitude |∇S| with forward differences (UDPNet eq. (3)).

    Parameters
    ----------
    luma : ndarray of shape (N, H, W), float32 in [0, 1]

    Returns
    -------
    ndarray of shape (N, H, W), float32, >= 0
    """
    dx = np.zeros_like(luma)
    dy = np.zeros_like(luma)
    dx[:, :, :-1] = luma[:, :, 1:] - luma[:, :, :-1]
    dy[:, :-1, :] = luma[:, 1:, :] - luma[:, :-1, :]
    return np.sqrt(dx * dx + dy * dy)


def laplacian_energy(luma: np.ndarray, *, sigma: float = 5.0, radius: int = 5) -> np.ndarray:
    """Gaussian-smoothed absolute Laplacian: the saliency of GFF (Li et al. 2013, eq. (4)).

    Parameters
    ----------
    luma : ndarray of shape (N, H, W), float32 in [0, 1]
    sigma : float
        Standard deviation of the Gaussian low-pass.
    radius : int
        The Gaussian window is (2 * radius + 1) pixels wide.

    Returns
    -------
    ndarray of shape (N, H, W), float32, >= 0
    """
    size = 2 * radius + 1
    out = np.empty_like(luma)
    for k, image in enumerate(luma):
        high = np.abs(cv2.Laplacian(image, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT))
        out[k] = cv2.GaussianBlur(high, (size, size), sigma, borderType=cv2.BORDER_REFLECT)
    return out


def reblur_detail(
    luma: np.ndarray, *, sigma: float = 1.5, output_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Squared detail that a re-blur removes, (S - G_sigma * S)², per pixel.

    A focused region loses much detail when blurred again, a defocused one little (the idea
    behind DFP's DoubleReblur). Average it over a window (`window_mean`) for a focus measure.

    Parameters
    ----------
    luma : ndarray of shape (N, H, W), float32 in [0, 1]
    sigma : float
        Standard deviation of the re-blur, in input pixels.
    output_size : (width, height), optional
        Shrink the result to this size by area averaging; the default keeps the input size.

    Returns
    -------
    ndarray of shape (N, H, W), or (N, height, width) with ``output_size``; float32, >= 0
    """
    height, width = luma.shape[1:]
    out_width, out_height = output_size or (width, height)
    out = np.empty((luma.shape[0], out_height, out_width), dtype=np.float32)
    for k, image in enumerate(luma):
        detail = image - cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        energy = detail * detail
        if (out_width, out_height) != (width, height):
            energy = cv2.resize(energy, (out_width, out_height), interpolation=cv2.INTER_AREA)
        out[k] = energy
    return out


def window_mean(images: np.ndarray, window: int) -> np.ndarray:
    """Mean over a square window of side ``window`` (reflected borders), per image.

    Parameters
    ----------
    images : ndarray of shape (N, H, W), float32

    Returns
    -------
    ndarray of shape (N, H, W), float32
    """
    out = np.empty_like(images)
    for image, result in zip(images, out, strict=True):
        cv2.boxFilter(image, -1, (window, window), dst=result, borderType=cv2.BORDER_REFLECT)
    return out
