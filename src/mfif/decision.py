"""Decision maps: from focus scores to per-source weights that sum to 1 at every pixel.

Weight stacks have shape (N, H, W), float32 in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "winner_take_all",
    "majority_filter",
    "remove_small_regions",
    "guided_filter",
    "normalise_weights",
]


def winner_take_all(scores: np.ndarray) -> np.ndarray:
    """One-hot weights of the best-scoring source per pixel; exact ties share equally.

    Parameters
    ----------
    scores : ndarray of shape (N, H, W)
        Larger is better.

    Returns
    -------
    ndarray of shape (N, H, W), float32
        Sums to 1 at every pixel.
    """
    is_best = scores == scores.max(axis=0, keepdims=True)
    weights = is_best.astype(np.float32)
    return weights / weights.sum(axis=0, keepdims=True)


def majority_filter(weights: np.ndarray, *, window: int) -> np.ndarray:
    """Consistency check: each pixel takes the source that wins most often in its window.

    Parameters
    ----------
    weights : ndarray of shape (N, H, W), float32
        Decision weights (one-hot or soft).
    window : int
        Side of the square voting window, in pixels.

    Returns
    -------
    ndarray of shape (N, H, W), float32, one-hot (ties share equally)
    """
    votes = np.stack(
        [cv2.boxFilter(w, -1, (window, window), borderType=cv2.BORDER_REFLECT) for w in weights]
    )
    return winner_take_all(votes)


def remove_small_regions(weights: np.ndarray, *, min_area: int) -> np.ndarray:
    """Hand connected regions smaller than ``min_area`` pixels to the surrounding source.

    Parameters
    ----------
    weights : ndarray of shape (N, H, W), float32, one-hot
    min_area : int
        Regions of one winning source with fewer pixels than this are removed.

    Returns
    -------
    ndarray of shape (N, H, W), float32, one-hot
    """
    labels = weights.argmax(axis=0).astype(np.int32)
    count = weights.shape[0]
    for _ in range(2):  # a region removed once may expose another small one
        changed = False
        for k in range(count):
            mask = (labels == k).astype(np.uint8)
            number, components, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
            small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_area) + 1
            if small.size == 0:
                continue
            changed = True
            is_small = np.isin(components, small)
            # Neighbouring sources vote on the small regions through a dilated ring.
            ring = cv2.dilate(is_small.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            ring &= ~is_small
            neighbour_labels = labels[ring]
            neighbour_labels = neighbour_labels[neighbour_labels != k]
            if neighbour_labels.size == 0:
                continue
            labels[is_small] = np.bincount(neighbour_labels, minlength=count).argmax()
        if not changed:
            break
    return np.eye(count, dtype=np.float32)[labels].transpose(2, 0, 1).copy()


def guided_filter(guide: np.ndarray, source: np.ndarray, *, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``source`` following the edges of ``guide`` (He, Sun, Tang,
    "Guided Image Filtering", TPAMI 2013, eqs. (5), (6), (8)).

    Parameters
    ----------
    guide : ndarray of shape (H, W), float32 in [0, 1]
        Grey guidance image.
    source : ndarray of shape (H, W) or (N, H, W), float32
        Image(s) to filter; a stack shares the guide's statistics.
    radius : int
        Window radius r; windows are (2r + 1) pixels wide.
    eps : float
        Regularisation ε; larger means smoother.

    Returns
    -------
    ndarray of the shape of ``source``, float32
    """
    size = (2 * radius + 1, 2 * radius + 1)

    def mean(image: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(image, -1, size, borderType=cv2.BORDER_REFLECT)

    guide = guide.astype(np.float32, copy=False)
    mean_guide = mean(guide)
    variance = mean(guide * guide) - mean_guide * mean_guide
    denominator = variance + np.float32(eps)
    sources = source[None] if source.ndim == 2 else source
    out = np.empty_like(sources, dtype=np.float32)
    for k, plane in enumerate(sources.astype(np.float32, copy=False)):
        mean_plane = mean(plane)
        slope = (mean(guide * plane) - mean_guide * mean_plane) / denominator
        offset = mean_plane - slope * mean_guide
        out[k] = mean(slope) * guide + mean(offset)
    return out[0] if source.ndim == 2 else out


def normalise_weights(weights: np.ndarray) -> np.ndarray:
    """Clip negative weights and rescale so the N weights sum to 1 at every pixel.

    Pixels where every weight is zero get equal weights 1/N.

    Parameters
    ----------
    weights : ndarray of shape (N, H, W)

    Returns
    -------
    ndarray of shape (N, H, W), float32 in [0, 1]
    """
    clipped = np.maximum(weights, 0.0).astype(np.float32, copy=False)
    total = clipped.sum(axis=0, keepdims=True)
    empty = total <= 1e-12
    clipped = np.where(empty, np.float32(1.0 / weights.shape[0]), clipped)
    total = np.where(empty, np.float32(1.0), total)
    return clipped / total
