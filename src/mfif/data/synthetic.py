"""Synthetic focus stacks rendered from a sharp image and its disparity map (thin-lens model).

With a thin lens the circle of confusion grows linearly with |d - d_focus| in disparity, so a
stack focused at several disparities can be rendered from one sharp image, which is then the
exact ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage

__all__ = ["disk_kernel", "fill_unknown_disparity", "render_depth_stack", "focus_planes"]

_RADIUS_STEP = 0.5  # pixels between rendered blur layers


def disk_kernel(radius: float) -> np.ndarray:
    """Normalised disk (pill-box) point-spread function with anti-aliased rim.

    Parameters
    ----------
    radius : float
        Radius in pixels; below 0.5 the kernel is the identity.

    Returns
    -------
    ndarray of shape (2R+1, 2R+1), float32, summing to 1 (R = ceil(radius)).
    """
    if radius < 0.5:
        return np.ones((1, 1), np.float32)
    half = int(np.ceil(radius))
    supersample = 8
    axis = (np.arange((2 * half + 1) * supersample) + 0.5) / supersample - (half + 0.5)
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    inside = (xx * xx + yy * yy <= radius * radius).astype(np.float32)
    kernel = inside.reshape(2 * half + 1, supersample, 2 * half + 1, supersample).mean(axis=(1, 3))
    return (kernel / kernel.sum()).astype(np.float32)


def fill_unknown_disparity(disparity: np.ndarray) -> np.ndarray:
    """Replace unknown disparities (0, NaN or infinite) by the nearest known value.

    Parameters
    ----------
    disparity : ndarray of shape (H, W)

    Returns
    -------
    ndarray of shape (H, W), float32
    """
    disparity = np.asarray(disparity, dtype=np.float32)
    unknown = ~np.isfinite(disparity) | (disparity <= 0)
    if not unknown.any():
        return disparity
    if unknown.all():
        raise ValueError("The disparity map has no known value.")
    _, (rows, cols) = ndimage.distance_transform_edt(unknown, return_indices=True)
    return disparity[rows, cols]


def focus_planes(disparity: np.ndarray, count: int) -> np.ndarray:
    """``count`` focus disparities spread over the scene: the centres of equal-population bins.

    Returns
    -------
    ndarray of shape (count,), float32, increasing.
    """
    quantiles = (np.arange(count) + 0.5) / count
    return np.quantile(disparity, quantiles).astype(np.float32)


def render_depth_stack(
    image: np.ndarray,
    disparity: np.ndarray,
    focus_disparities: Sequence[float],
    *,
    blur_per_disparity: float,
    max_radius: float = 12.0,
) -> np.ndarray:
    """Render one defocused copy of ``image`` per focus disparity.

    Each pixel is blurred by a disk of radius ``blur_per_disparity * |d - d_focus|`` (capped at
    ``max_radius``). Layers are rendered every 0.5 pixel of radius and blended linearly between
    the two nearest layers, so the blur varies smoothly across depth.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), float32 in [0, 1]
        The sharp image (the ground truth).
    disparity : ndarray of shape (H, W)
        Disparity in pixels, larger is nearer; unknown values are filled from their neighbours.
    focus_disparities : sequence of float
        The disparity in focus for each rendered source.
    blur_per_disparity : float
        Blur radius in pixels per pixel of disparity difference (the thin-lens constant k).
    max_radius : float
        Largest blur radius rendered.

    Returns
    -------
    ndarray of shape (N, H, W[, C]), float32 in [0, 1]
    """
    image = np.asarray(image, dtype=np.float32)
    disparity = fill_unknown_disparity(disparity)
    sources = []
    for focus in focus_disparities:
        radius = np.minimum(blur_per_disparity * np.abs(disparity - focus), max_radius)
        sources.append(_render_radius_map(image, radius))
    return np.stack(sources)


def _render_radius_map(image: np.ndarray, radius: np.ndarray) -> np.ndarray:
    position = radius / _RADIUS_STEP  # fractional layer index per pixel
    out = np.zeros_like(image)
    for layer in range(int(np.ceil(position.max())) + 1):
        weight = np.clip(1.0 - np.abs(position - layer), 0.0, None).astype(np.float32)
        if not weight.any():
            continue
        kernel = disk_kernel(layer * _RADIUS_STEP)
        blurred = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT).reshape(
            image.shape
        )
        out += (weight[..., None] * blurred) if image.ndim == 3 else weight * blurred
    return np.clip(out, 0.0, 1.0)
