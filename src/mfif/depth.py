"""Depth from focus: where in the stack each pixel is sharpest, between frames, and how sure.

For each pixel the focus measure of every frame (the window mean of the detail a re-blur
removes, `mfif.focus.reblur_detail`, measured on each frame as stored) is a curve over the
frame index. Its peak is found one frame at a time, keeping only the best frame and its two
neighbours' measures, and placed between frames by fitting a Gaussian through the three
(a parabola through their logarithms): a surface half-way between two focus planes reads
k + 0.5. The confidence is how far the peak stands above the curve's mean (0: every frame
alike, as on a flat wall; 1: one frame alone is sharp), times how far the peak stands above
the stack's noise floor (what the most blurred frame still shows). The depth is then smoothed
with the confidence as weight (normalised convolution), so flat regions take the depth of the
textured ones around them instead of noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .focus import reblur_detail, window_mean
from .frames import FrameSource

__all__ = ["DepthMap", "estimate_depth", "depth_colours", "depth_tiff", "shaded_relief"]


@dataclass(frozen=True)
class DepthMap:
    """Depth from focus of a stack of N frames.

    Attributes
    ----------
    depth : ndarray of shape (H, W), float32 in [0, N − 1]
        The focus position in frame units (0 = the first frame), between frames where the focus
        measure allows, smoothed where the confidence is low.
    confidence : ndarray of shape (H, W), float32 in [0, 1]
        How clearly one position is sharper than the others (0 on flat regions).
    index : ndarray of shape (H, W), int32
        The frame with the highest focus measure, unsmoothed.
    count : int
        N.
    """

    depth: np.ndarray
    confidence: np.ndarray
    index: np.ndarray
    count: int

    def resized(self, shape: tuple[int, int]) -> DepthMap:
        """The same maps at ``shape`` (height, width): a super-resolved output's size."""
        size = (shape[1], shape[0])
        return DepthMap(
            cv2.resize(self.depth, size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(self.confidence, size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(self.index, size, interpolation=cv2.INTER_NEAREST),
            self.count,
        )


def estimate_depth(
    frames: FrameSource,
    *,
    sigma: float = 1.5,
    window: int = 9,
    smoothing: float = 6.0,
    scale: float = 0.5,
) -> DepthMap:
    """The depth map of ``frames`` (aligned, in focus order).

    Parameters
    ----------
    frames : FrameSource
        N >= 2 frames; each is read once.
    sigma : float
        Re-blur of the focus measure, full-resolution pixels.
    window : int
        Averaging window of the focus measure, full-resolution pixels.
    smoothing : float
        Standard deviation, in full-resolution pixels, of the confidence-weighted smoothing.
    scale : float
        Resolution the measure is made at (0.5: half; the maps are upsampled at the end).

    Returns
    -------
    DepthMap
    """
    count, height, width = frames.shape[:3]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small_window = max(1, int(window * scale)) | 1

    def measure(luma: np.ndarray, measure_size: tuple[int, int]) -> list[np.ndarray]:
        detail = reblur_detail(luma[None], sigma=sigma, output_size=measure_size)
        return [window_mean(detail, small_window)[0]]

    best = before = after = total = previous = lowest = None
    index = None
    for k in range(count):
        focus = np.maximum(frames.measured(k, measure, size)[0], 1e-12)
        if best is None:
            best, index = focus.copy(), np.zeros(focus.shape, np.int32)
            before, after, total = focus.copy(), np.zeros_like(focus), focus.copy()
            lowest = focus.copy()
        else:
            total += focus
            np.minimum(lowest, focus, out=lowest)
            follows = index == k - 1  # the frame after the best so far
            after[follows] = focus[follows]
            better = focus > best
            before[better] = previous[better]
            after[better] = 0.0  # unknown until the next frame (0: the last frame)
            best[better] = focus[better]
            index[better] = k
        previous = focus
    offset = _peak_offset(before, best, after, index, count)
    depth = index + offset
    mean = total / count
    peaked = np.clip((1.0 - mean / best) * count / (count - 1), 0.0, 1.0)
    # The stack's floor: what the most blurred frame still shows (noise, mostly). A peak of a
    # few times that is noise choosing a frame, not focus.
    floor = float(np.median(lowest))
    textured = np.clip(1.0 - _FLOOR_TIMES * floor / best, 0.0, 1.0)
    confidence = peaked * textured
    depth = _smoothed(depth.astype(np.float32), confidence, smoothing * scale)
    full = (width, height)
    return DepthMap(
        depth=np.clip(cv2.resize(depth, full, interpolation=cv2.INTER_LINEAR), 0, count - 1),
        confidence=cv2.resize(confidence.astype(np.float32), full, interpolation=cv2.INTER_LINEAR),
        index=cv2.resize(index, full, interpolation=cv2.INTER_NEAREST),
        count=count,
    )


_FLOOR_TIMES = 3.0


def _peak_offset(
    before: np.ndarray, best: np.ndarray, after: np.ndarray, index: np.ndarray, count: int
) -> np.ndarray:
    """Where, within ±0.5 frame of ``index``, a Gaussian through the measures of the best
    frame and its neighbours peaks; 0 at the ends of the stack."""
    inner = (index > 0) & (index < count - 1) & (after > 0)
    low, mid, high = (np.log(np.maximum(m, 1e-12)) for m in (before, best, after))
    curvature = low - 2.0 * mid + high  # < 0 at a peak
    offset = np.zeros(best.shape, np.float32)
    valid = inner & (curvature < -1e-6)
    offset[valid] = 0.5 * (low[valid] - high[valid]) / curvature[valid]
    return np.clip(offset, -0.5, 0.5)


def _smoothed(depth: np.ndarray, confidence: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution of ``depth`` with ``confidence`` as weight; where nothing near
    is confident, a wider one, and the raw depth where even that sees nothing."""
    if sigma <= 0:
        return depth
    weight = confidence.astype(np.float32) ** 2
    result = depth.copy()
    for spread in (4 * sigma, sigma):  # the narrower one wins wherever it sees enough
        numerator = cv2.GaussianBlur(weight * depth, (0, 0), spread)
        denominator = cv2.GaussianBlur(weight, (0, 0), spread)
        known = denominator > 1e-3
        result[known] = numerator[known] / denominator[known]
    return result


def depth_colours(depth: DepthMap) -> np.ndarray:
    """The depth as a colour image for viewing: the first frame dark blue, the last dark red
    (OpenCV's TURBO map), faded towards grey where the confidence is low.

    Returns
    -------
    ndarray of shape (H, W, 3), float32 RGB in [0, 1]
    """
    levels = np.round(depth.depth / max(depth.count - 1, 1) * 255).astype(np.uint8)
    colours = cv2.applyColorMap(levels, cv2.COLORMAP_TURBO)[..., ::-1].astype(np.float32) / 255
    sure = np.clip(depth.confidence * 2.0, 0.0, 1.0)[..., None]
    return colours * sure + 0.5 * (1.0 - sure)


def shaded_relief(depth: DepthMap, image: np.ndarray, *, height: float = 0.08) -> np.ndarray:
    """A shaded 3-D preview: ``image`` lit as a relief whose height is the depth (the first
    frame nearest), light from the upper left.

    Parameters
    ----------
    image : ndarray of shape (H, W, C), float32 in [0, 1]
        The fused image, the depth map's size.
    height : float
        Relief height from the first to the last frame, as a fraction of the image width.

    Returns
    -------
    ndarray of shape (H, W, C), float32 in [0, 1]
    """
    rows, columns = depth.depth.shape
    relief = (depth.count - 1 - depth.depth) / max(depth.count - 1, 1) * height * columns
    # Smoothed over a two-hundredth of the width: the relief shows the shape, not the noise.
    relief = cv2.GaussianBlur(relief.astype(np.float32), (0, 0), max(2.0, columns / 200))
    slope_x = cv2.Sobel(relief, cv2.CV_32F, 1, 0, ksize=3) / 8
    slope_y = cv2.Sobel(relief, cv2.CV_32F, 0, 1, ksize=3) / 8
    light = np.array([-1.0, -1.0, 1.5])
    light /= np.linalg.norm(light)
    normal_z = 1.0 / np.sqrt(slope_x**2 + slope_y**2 + 1.0)
    shade = (-slope_x * light[0] - slope_y * light[1] + light[2]) * normal_z
    shade = np.clip(0.35 + 0.75 * shade, 0.0, 1.3)
    shaded = image.reshape(rows, columns, -1) * shade[..., None]
    return np.clip(shaded, 0.0, 1.0).reshape(image.shape).astype(np.float32)


def depth_tiff(depth: DepthMap) -> bytes:
    """The depth as the bytes of a float32 TIFF in frame units (0 = the first frame)."""
    from .codecs import tiff_bytes

    description = f"mfif depth from focus, frame units (0 to {depth.count - 1})"
    return tiff_bytes(depth.depth.astype(np.float32), description=description)
