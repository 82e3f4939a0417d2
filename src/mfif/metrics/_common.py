"""Shared helpers of the metric ports: MATLAB-compatible rounding, filtering and histograms.

The canonical fusion-metric toolboxes are MATLAB code run on ``double(imread(...))`` of 8-bit
images, so the ports work on float64 arrays holding integer grey levels 0..255 and reproduce
MATLAB's conventions where they change the numbers (``round`` away from zero, ``filter2``
correlation with zero padding, ``fspecial`` kernels, ``normalize1`` re-binning).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import MetricError

__all__ = [
    "MetricError",
    "matlab_round",
    "normalize_to_levels",
    "gaussian_kernel_1d",
    "filter2_same",
    "filter2_valid",
    "box_sum_valid",
    "joint_histogram",
    "entropy_bits",
    "require_finite",
]


def matlab_round(values: np.ndarray) -> np.ndarray:
    """MATLAB's ``round``: halves go away from zero (numpy rounds them to even)."""
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def normalize_to_levels(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Min-max stretch to 0..255 and round (Z. Liu's ``normalize1``).

    An all-zero image is returned unchanged; any other constant image has no range to stretch
    and raises `MetricError` (MATLAB would divide by zero).
    """
    image = np.asarray(image, dtype=np.float64)
    high, low = float(image.max()), float(image.min())
    if high == 0.0 and low == 0.0:
        return image
    if high == low:
        raise MetricError(
            f"The {name} is constant (every pixel {low:g}); information-theoretic metrics are "
            "undefined for it."
        )
    return matlab_round((image - low) / (high - low) * 255.0)


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """The 1-D factor of MATLAB's ``fspecial('gaussian', size, sigma)``, normalised to sum 1.

    ``fspecial`` builds the 2-D kernel exp(-(x²+y²)/2σ²) / sum, which is the outer product of
    this vector with itself.
    """
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    kernel = np.exp(-(offsets**2) / (2.0 * sigma * sigma))
    return kernel / kernel.sum()


def filter2_same(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(kernel, image, 'same')``: correlation, zero padding, odd kernel sizes.

    ``kernel`` is a 2-D array, or a pair ``(column_kernel, row_kernel)`` of 1-D arrays for a
    separable kernel (outer product).
    """
    if isinstance(kernel, tuple):
        column, row = kernel
        if len(column) % 2 == 0 or len(row) % 2 == 0:
            raise ValueError("filter2_same supports odd kernel sizes only.")
        return cv2.sepFilter2D(
            np.asarray(image, np.float64),
            cv2.CV_64F,
            np.asarray(row, np.float64),
            np.asarray(column, np.float64),
            borderType=cv2.BORDER_CONSTANT,
        )
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError("filter2_same supports odd kernel sizes only.")
    return _correlate_direct(np.asarray(image, np.float64), kernel)


def _correlate_direct(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    # Sum of shifted copies: exact for integer images and small integer kernels, and free of
    # the FFT rounding that OpenCV's filter2D may use for large kernels.
    height, width = image.shape
    kernel_height, kernel_width = kernel.shape
    pad_y, pad_x = kernel_height // 2, kernel_width // 2
    padded = np.zeros((height + 2 * pad_y, width + 2 * pad_x), dtype=np.float64)
    padded[pad_y : pad_y + height, pad_x : pad_x + width] = image
    out = np.zeros((height, width), dtype=np.float64)
    for dy in range(kernel_height):
        for dx in range(kernel_width):
            weight = kernel[dy, dx]
            if weight != 0.0:
                out += weight * padded[dy : dy + height, dx : dx + width]
    return out


def filter2_valid(image: np.ndarray, column: np.ndarray, row: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(column ⊗ row, image, 'valid')`` for a separable kernel.

    Returns an array of shape (H - len(column) + 1, W - len(row) + 1).
    """
    image = np.asarray(image, dtype=np.float64)
    filtered = cv2.sepFilter2D(
        image,
        cv2.CV_64F,
        np.asarray(row, np.float64),
        np.asarray(column, np.float64),
        anchor=(0, 0),
        borderType=cv2.BORDER_CONSTANT,
    )
    return filtered[: image.shape[0] - len(column) + 1, : image.shape[1] - len(row) + 1]


def box_sum_valid(image: np.ndarray, size: int) -> np.ndarray:
    """Sum over every size x size window lying inside the image ('valid'), exactly.

    For integer-valued float64 images every partial sum is an integer, so the result equals
    MATLAB's ``filter2(ones(size), image, 'valid')`` bit for bit.
    """
    image = np.asarray(image, dtype=np.float64)
    integral = np.zeros((image.shape[0] + 1, image.shape[1] + 1), dtype=np.float64)
    integral[1:, 1:] = image.cumsum(axis=0).cumsum(axis=1)
    return (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    )


def joint_histogram(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """256 x 256 joint probability of grey levels: [i, j] for first = i and second = j."""
    first = first.astype(np.int64).ravel()
    second = second.astype(np.int64).ravel()
    counts = np.bincount(first * 256 + second, minlength=256 * 256).astype(np.float64)
    return (counts / counts.sum()).reshape(256, 256)


def entropy_bits(probabilities: np.ndarray) -> float:
    """Shannon entropy in bits; zero probabilities contribute 0."""
    nonzero = probabilities[probabilities > 0]
    return float(-(nonzero * np.log2(nonzero)).sum())


def require_finite(value: float, name: str) -> float:
    """Return ``value`` as a float, or raise `MetricError` instead of a silent NaN."""
    value = float(np.real(value))
    if not np.isfinite(value):
        raise MetricError(
            f"{name} is undefined for these images (a constant image or constant windows "
            "make its ratio 0/0)."
        )
    return value
