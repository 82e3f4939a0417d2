"""Bounded-memory inference: run a per-pixel network on overlapping tiles and blend them.

Networks with a non-local block need memory quadratic in the tile area, so whole images are
never passed at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .concurrency import ordered_map

__all__ = ["tile_starts", "run_tiled", "default_overlap"]


def default_overlap(tile: int) -> int:
    """The overlap of tiles of side ``tile`` unless a method says otherwise: a quarter of the
    tile, at most 32 pixels (beyond which the blend gains nothing measurable)."""
    return min(32, tile // 4)


def tile_starts(length: int, tile: int, overlap: int) -> tuple[list[int], int]:
    """Start offsets and the common size of the fewest tiles, each at most ``tile`` long and
    overlapping by at least ``overlap``, that cover ``length``.

    The tiles are made equal rather than leaving a thin last tile: for 520 pixels and tiles
    of at most 264, two tiles of 264 instead of three.
    """
    if tile <= overlap:
        raise ValueError(f"tiles ({tile} px) must be larger than their overlap ({overlap} px).")
    if length <= tile:
        return [0], length
    count = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count)
    step = (length - size) / (count - 1)
    return [round(i * step) for i in range(count)], size


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    weights = np.ones(length, np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not at_start:
            weights[:overlap] = ramp
        if not at_end:
            weights[-overlap:] = ramp[::-1]
    return weights


def run_tiled(
    function: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    *,
    tile: int = 128,
    overlap: int | None = None,
    description: str | None = None,
    scale: int = 1,
    threads: int = 1,
) -> np.ndarray:
    """Apply ``function`` to overlapping tiles of ``image`` and blend the results linearly.

    Parameters
    ----------
    function : callable
        Maps an array (C, h, w) to an array (C', scale·h, scale·w).
    image : ndarray of shape (C, H, W)
    tile, overlap : int
        Largest tile side and smallest overlap, in pixels (see `tile_starts`); the overlap
        defaults to `default_overlap` of the tile.
    description : str, optional
        Label of a progress bar over the tiles, shown on a terminal when there are more than
        16 tiles; None shows none.
    scale : int
        The function's output is this many times larger than its input (super-resolution).
    threads : int
        Tiles computed at once, each on its own thread (`mfif.concurrency.ordered_map`: at
        most this many results held ahead of the blend); ``function`` must then be safe to
        call from several threads. The result does not depend on it.

    Returns
    -------
    ndarray of shape (C', scale·H, scale·W), float32
    """
    overlap = default_overlap(tile) if overlap is None else overlap
    _, height, width = image.shape
    (rows, tile_height), (cols, tile_width) = (
        tile_starts(height, tile, overlap),
        tile_starts(width, tile, overlap),
    )
    out = None
    total = np.zeros((scale * height, scale * width), np.float32)
    corners = [(top, left) for top in rows for left in cols]

    def on_tile(corner: tuple[int, int]) -> np.ndarray:
        top, left = corner
        return function(image[:, top : top + tile_height, left : left + tile_width])

    threads = min(threads, len(corners))  # one tile: in the calling thread
    results = zip(corners, ordered_map(on_tile, corners, threads), strict=True)
    if description is not None:
        from .progress import progress_bar

        results = progress_bar(results, label=description, unit="tile", total=len(corners))
    for (top, left), result in results:
        bottom, right = top + tile_height, left + tile_width
        if out is None:
            out = np.zeros((result.shape[0], scale * height, scale * width), np.float32)
        weight = np.outer(
            _ramp(scale * (bottom - top), scale * overlap, top == 0, bottom == height),
            _ramp(scale * (right - left), scale * overlap, left == 0, right == width),
        )
        window = np.s_[:, scale * top : scale * bottom, scale * left : scale * right]
        out[window] += result * weight
        total[window[1:]] += weight
    return out / total
