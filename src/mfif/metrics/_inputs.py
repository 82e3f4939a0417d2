"""Turning user images into the 8-bit grey planes every metric is defined on."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ._common import MetricError

__all__ = ["COLOR_MODES", "to_levels", "planes"]

COLOR_MODES = ("luminance", "mean")


def to_levels(image: np.ndarray, name: str) -> np.ndarray:
    """An image as uint8 grey levels, shape (H, W, C) with C = 1 or 3.

    float input is taken as [0, 1] and rounded to 255 levels; uint16 is rounded to 8 bits
    (the canonical metrics are defined on 0..255 values, so 16-bit detail below one 8-bit
    level does not count); uint8 is used as is.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise MetricError(f"The {name} must have shape (H, W) or (H, W, 3); got {image.shape}.")
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.rint(image.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        if not np.all(np.isfinite(image)):
            raise MetricError(f"The {name} contains NaN or infinite values.")
        return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise MetricError(
        f"The {name} has unsupported dtype {image.dtype}; use uint8, uint16 or float."
    )


def planes(
    images: Sequence[np.ndarray], names: Sequence[str], color: str
) -> list[list[np.ndarray]]:
    """Grey planes to evaluate, float64 levels 0..255: one list per plane, one entry per image.

    ``color="luminance"``: one plane, Y of YCbCr (BT.601, OpenCV's YCrCb) for colour images.
    ``color="mean"``: one plane per channel (the caller averages the metric over them).
    All images must have the same size and channel count.
    """
    if color not in COLOR_MODES:
        raise MetricError(f"color must be one of {', '.join(COLOR_MODES)}; got {color!r}.")
    levels = [to_levels(image, name) for image, name in zip(images, names, strict=True)]
    first = levels[0]
    for image, name in zip(levels[1:], names[1:], strict=True):
        if image.shape[:2] != first.shape[:2]:
            raise MetricError(
                f"All images must have the same size: the {names[0]} is "
                f"{first.shape[1]}x{first.shape[0]} but the {name} is "
                f"{image.shape[1]}x{image.shape[0]}."
            )
        if image.shape[2] != first.shape[2]:
            raise MetricError(
                f"Grey and colour images cannot be mixed: the {names[0]} has {first.shape[2]} "
                f"channel(s) but the {name} has {image.shape[2]}."
            )
    if first.shape[2] == 1:
        return [[image[..., 0].astype(np.float64) for image in levels]]
    if color == "luminance":
        return [
            [
                cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float64)
                for image in levels
            ]
        ]
    return [[image[..., c].astype(np.float64) for image in levels] for c in range(3)]
