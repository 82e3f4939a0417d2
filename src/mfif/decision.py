"""Decision maps: from focus scores to per-source weights that sum to 1 at every pixel.

Weight stacks have shape (N, H, W), float32 in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .concurrency import ordered_map

__all__ = [
    "component_pixels",
    "winner_take_all",
    "majority_vote",
    "GuidedFilter",
    "remove_small_regions",
    "repair_patchy_labels",
    "guided_filter",
    "normalise_weights",
    "one_hot",
    "winning_source",
    "RunningWinner",
    "refine_labels",
    "hard_decision",
    "segment_decision",
    "FILL_MODES",
]

FILL_MODES = ("regions", "largest", "none")


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


def majority_vote(labels: np.ndarray, count: int, *, window: int, threads: int = 1) -> np.ndarray:
    """Consistency check: each pixel takes the source that wins most often in its window.

    Parameters
    ----------
    labels : ndarray of shape (H, W), int
        Winning source per pixel, in [0, count).
    count : int
        Number of sources N.
    window : int
        Side of the square voting window, in pixels.
    threads : int
        Threads that count the votes (the tally stays in order).

    Returns
    -------
    ndarray of shape (H, W), int32
    """
    size = (window, window)
    # A running winner (the first on ties, as `winning_source`): memory does not grow with N.
    # A source without votes cannot beat anyone, so only present ones are counted.
    winner = RunningWinner()
    present = [int(k) for k in np.flatnonzero(np.bincount(labels.ravel(), minlength=count))]

    def votes(k: int) -> np.ndarray:
        return cv2.boxFilter(
            (labels == k).view(np.uint8), cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT
        )

    for k, counted in zip(present, ordered_map(votes, present, threads), strict=True):
        winner.update(k, counted)
    return winner.labels


def remove_small_regions(
    labels: np.ndarray, count: int, *, min_area: int, threads: int = 1
) -> np.ndarray:
    """Hand connected regions smaller than ``min_area`` pixels to the surrounding source.

    Parameters
    ----------
    labels : ndarray of shape (H, W), int
        Winning source per pixel, in [0, count).
    count : int
        Number of sources N.
    min_area : int
        Regions of one winning source with fewer pixels than this are removed.
    threads : int
        Threads that find the sources' regions ahead of their turn.

    Returns
    -------
    ndarray of shape (H, W), int32
    """
    original = labels
    labels = labels.astype(np.int32, copy=True)
    # Regions go to sources already present, so an absent source stays absent.
    present = [int(k) for k in np.flatnonzero(np.bincount(labels.ravel(), minlength=count))]

    def regions(k: int, of: np.ndarray = original) -> tuple[np.ndarray, np.ndarray]:
        _, components, stats, _ = cv2.connectedComponentsWithStats(
            (of == k).view(np.uint8), connectivity=4
        )
        return components, stats

    # Sources are handled in turn; each one's regions are found ahead, on threads, from the
    # labels as they were, and found again only if an earlier source gave it pixels (a source
    # loses pixels only on its own turn): the same result as one source after another.
    grown: set[int] = set()
    for k, found in zip(present, ordered_map(regions, present, threads), strict=True):
        components, stats = regions(k, labels) if k in grown else found
        is_small_component = stats[:, cv2.CC_STAT_AREA] < min_area
        is_small_component[0] = False  # the background of the mask
        if not is_small_component.any():
            continue
        is_small = component_pixels(components, is_small_component, stats)
        new_labels = _surrounding_labels(components, len(stats), is_small, labels, k, count)
        labels[is_small] = new_labels[components[is_small]]
        grown.update(int(j) for j in np.unique(new_labels[is_small_component]) if j != k)
    return labels


def _surrounding_labels(
    components: np.ndarray,
    size: int,
    is_small: np.ndarray,
    labels: np.ndarray,
    k: int,
    count: int,
) -> np.ndarray:
    """For each of the ``size`` components of source ``k`` (``components``, ids from 1; 0 is
    the rest), the label most of the pixels bordering it outside it have, other than ``k``
    (``k`` where there is none): each small region (``is_small``) goes to its own
    surroundings (a pixel bordering two takes the larger id's)."""
    ring = cv2.dilate(is_small.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool) & ~is_small
    height, width = components.shape
    rows, columns = np.divmod(np.flatnonzero(ring), width)  # 10 times np.nonzero's speed
    owners = np.zeros(rows.size, np.int64)
    for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
        # Clipped at the border onto a pixel of the same 3 x 3 window: no false neighbour.
        r, c = np.clip(rows + dy, 0, height - 1), np.clip(columns + dx, 0, width - 1)
        np.maximum(owners, np.where(is_small[r, c], components[r, c], 0), out=owners)
    neighbours = labels[rows, columns]
    other = neighbours != k
    votes = np.bincount(owners[other] * count + neighbours[other], minlength=size * count)
    votes = votes.reshape(size, count)
    return np.where(votes.max(axis=1) > 0, votes.argmax(axis=1), k).astype(labels.dtype)


def component_pixels(components: np.ndarray, chosen: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """The pixels of the chosen components of a `cv2.connectedComponentsWithStats` result,
    looked up in each one's bounding box: small regions' boxes are a small part of the image
    (a lookup per pixel cost 1.6 ms at 0.75 MP); per pixel when the boxes are large.

    Parameters
    ----------
    components : ndarray of shape (H, W), int32
        Component ids (0: the background of the mask).
    chosen : ndarray of shape (C,), bool
        Which components to take, by id.
    stats : ndarray of shape (C, 5), int32
        Their statistics (left, top, width, height, area).

    Returns
    -------
    ndarray of shape (H, W), bool
    """
    indices = np.flatnonzero(chosen)
    boxes = stats[indices, : cv2.CC_STAT_AREA]  # left, top, width, height
    if int((boxes[:, 2] * boxes[:, 3]).sum()) > components.size // 8:
        return chosen[components]
    pixels = np.zeros(components.shape, bool)
    for index, (left, top, width, height) in zip(indices, boxes.tolist(), strict=True):
        window = (slice(top, top + height), slice(left, left + width))
        pixels[window] |= components[window] == index
    return pixels


def repair_patchy_labels(
    labels: np.ndarray,
    lead: np.ndarray,
    neighbourhood: np.ndarray,
    *,
    window: int,
    min_lead: float,
    max_spread: float,
    distance: float,
    threads: int = 1,
) -> np.ndarray:
    """Replace a decision that is both weak and patchy by the confident one around it.

    Where every frame is blurred beyond a structure's own width (the inside of a bar of a
    barcode that one frame focuses), no frame has detail at the focus measure's scale: the
    blurred frames' edges leave more residue there than the sharp frame's flat inside, and
    the winner changes every few pixels among them, in grey patches. A pixel's decision is
    kept where the winner leads the runner-up by ``min_lead`` times ``neighbourhood`` (the
    best frame's detail over a wide window: the stakes around it), or where the labels in the
    window vary by at most ``max_spread`` frames (standard deviation: one boundary, or a depth
    slope through neighbouring frames). The others take a kept label that encloses them: the
    nearest kept pixels on both sides along the row, or along the column (the column's where
    both do), each within ``distance`` pixels, have the same label. A bar's two edges enclose
    its inside; an object's edge on one side of a background that no frame focuses (whose
    decision is patchy too) does not.

    Parameters
    ----------
    labels : ndarray of shape (H, W), int32
        The winning frame per pixel.
    lead : ndarray of shape (H, W), float32
        The winner's focus measure minus the runner-up's (>= 0; inf where there is one frame,
        or where the caller knows the decision to be confident on other grounds).
    neighbourhood : ndarray of shape (H, W), float32
        The largest of the frames' focus measures averaged over a wide window.
    window : int
        Side of the window over which the labels' spread is measured, pixels.
    min_lead, max_spread, distance : float
        See above; ``distance`` in pixels.
    threads : int
        Threads for the scans along rows and columns.

    Returns
    -------
    ndarray of shape (H, W), int32
    """
    confident = lead >= min_lead * neighbourhood
    index = labels.astype(np.float32)
    size = (window, window)
    mean = cv2.boxFilter(index, -1, size, borderType=cv2.BORDER_REFLECT)
    square = cv2.boxFilter(index * index, -1, size, borderType=cv2.BORDER_REFLECT)
    confident |= square - mean * mean <= max_spread * max_spread
    if confident.all() or not confident.any():
        return labels
    repaired = labels.astype(np.int32, copy=True)
    # Small integers halve the memory these passes stream through.
    compact = labels.astype(np.int16 if labels.max() < 2**15 else np.int32)

    def scan(axis_and_direction: tuple[int, bool]) -> np.ndarray:
        axis, backwards = axis_and_direction
        if not backwards:
            return _last_confident(compact, confident, distance, axis)
        flipped = _last_confident(np.flip(compact, axis), np.flip(confident, axis), distance, axis)
        return np.flip(flipped, axis)

    # The four scans are independent (NumPy releases the GIL in them).
    along_rows, back_rows, along_columns, back_columns = ordered_map(
        scan, [(1, False), (1, True), (0, False), (0, True)], threads
    )
    # Along rows, then along columns (which win where both enclose).
    for before, after in ((along_rows, back_rows), (along_columns, back_columns)):
        enclosed = ~confident & (before >= 0) & (before == after)
        repaired[enclosed] = before[enclosed]
    return repaired


def _last_confident(
    labels: np.ndarray, confident: np.ndarray, distance: float, axis: int
) -> np.ndarray:
    """The label of the nearest ``confident`` pixel at or before each pixel along ``axis``,
    -1 where none is within ``distance`` pixels; (H, W), the dtype of ``labels``."""
    length = labels.shape[axis]
    dtype = np.int16 if length < 2**15 else np.int32
    shape = [1, 1]
    shape[axis] = length
    positions = np.arange(length, dtype=dtype).reshape(shape)
    last = np.where(confident, positions, dtype(-1))
    np.maximum.accumulate(last, axis=axis, out=last)
    found = np.take_along_axis(labels, np.maximum(last, 0), axis=axis)
    found[(last < 0) | (positions - last > distance)] = -1
    return found


def winning_source(scores: np.ndarray) -> np.ndarray:
    """Index of the largest score per pixel (the first on ties).

    Same as ``scores.argmax(axis=0)`` but several times faster for a few large planes.

    Parameters
    ----------
    scores : ndarray of shape (N, H, W)

    Returns
    -------
    ndarray of shape (H, W), int32
    """
    winner = RunningWinner()
    for k, plane in enumerate(scores):
        winner.update(k, plane)
    return winner.labels


class RunningWinner:
    """The largest of a sequence of score maps, one map at a time: which index has it (the
    first on ties), its value, and how many maps reach it, without holding the maps.

    Parameters
    ----------
    labels : bool
        Keep ``labels``, (H, W) int32: the index of the winner so far.
    ties : bool
        Keep ``ties``, (H, W) float32: how many maps reach the best score so far.
    runner_up : bool
        Keep ``runner_up``, (H, W): the second-largest score so far (-inf after one map).
    away : int
        0, or at least 2: also keep ``runner_up_away``, (H, W), the largest score so far among
        the maps whose index is at least ``away`` from the winner's (-inf while there is none).
        With 2, the maps other than the winner and its two neighbours: in a stack ordered by
        focus, the frames focused elsewhere (a structure between two focal planes is nearly as
        sharp in both). Needs ``labels``; holds the last ``away`` maps it was given (not
        copies: they must not change afterwards).

    Call ``update(k, scores)`` with k = 0, 1, ... in turn; ``best`` (H, W) is the largest score
    so far.
    """

    def __init__(
        self, *, labels: bool = True, ties: bool = False, runner_up: bool = False, away: int = 0
    ) -> None:
        if away == 1 or away < 0 or (away and not labels):
            raise ValueError("away must be 0, or 2 or more with labels kept")
        self.best: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.ties: np.ndarray | None = None
        self.runner_up: np.ndarray | None = None
        self.runner_up_away: np.ndarray | None = None
        self._keep_labels = labels
        self._keep_ties = ties
        self._keep_runner_up = runner_up
        self._away = away
        self._recent: list[np.ndarray] = []  # the last ``away`` maps
        self._earlier: np.ndarray | None = None  # the largest of the maps ``away`` or more back
        self._far: np.ndarray | None = None  # reused mask

    def update(self, index: int, scores: np.ndarray) -> np.ndarray | None:
        """Take map ``index`` (H, W) into account; returns where it is strictly better than
        every map before it (None for the first map, which wins everywhere)."""
        if self.best is None:
            self.best = scores.copy()
            if self._keep_labels:
                self.labels = np.full(scores.shape, index, dtype=np.int32)
            if self._keep_ties:
                self.ties = np.ones(scores.shape, np.float32)
            if self._keep_runner_up or self._away:
                self._smaller = np.empty_like(self.best)  # reused: fresh pages cost
            if self._keep_runner_up:
                self.runner_up = np.full(scores.shape, -np.inf, scores.dtype)
            if self._away:
                self.runner_up_away = np.full(scores.shape, -np.inf, scores.dtype)
                self._recent.append(scores)
            return None
        if self.runner_up is not None:  # the new map, unless it is the new best
            np.minimum(scores, self.best, out=self._smaller)
            np.maximum(self.runner_up, self._smaller, out=self.runner_up)
        better = scores > self.best
        if self.runner_up_away is not None:
            self._update_runner_up_away(index, scores, better)
        if self.labels is not None:
            fill_where(self.labels, index, better)
        if self.ties is not None:
            fill_where(self.ties, 0, better)
            self.ties += scores >= self.best  # the new best, or one more tie
        np.maximum(self.best, scores, out=self.best)
        return better

    def _update_runner_up_away(self, index: int, scores: np.ndarray, better: np.ndarray) -> None:
        """``runner_up_away`` before map ``index`` updates the winner: where the map wins, the
        largest of the maps ``away`` or more before it; elsewhere, the map too when the winner
        is ``away`` or more before it (maps come in index order)."""
        if len(self._recent) == self._away:  # the map ``away`` back joins the earlier ones
            oldest = self._recent.pop(0)
            if self._earlier is None:
                self._earlier = oldest.copy()
            else:
                np.maximum(self._earlier, oldest, out=self._earlier)
        if self._far is None:
            self._far = np.empty(scores.shape, bool)
        np.less_equal(self.labels, index - self._away, out=self._far)
        # Where the map wins, the maximum taken here is overwritten just below; the runner-up's
        # buffer is free by now (reused: fresh pages cost).
        raised = cv2.max(self.runner_up_away, scores, dst=self._smaller)
        copy_where(self.runner_up_away, raised, self._far)
        if self._earlier is not None:
            copy_where(self.runner_up_away, self._earlier, better)
        else:
            fill_where(self.runner_up_away, -np.inf, better)
        self._recent.append(scores)


def fill_where(target: np.ndarray, value: float, where: np.ndarray) -> None:
    """``target[where] = value`` in place, for a contiguous (H, W) ``target`` and a bool
    ``where`` of its shape: OpenCV's masked copy, 10 times faster than NumPy's boolean
    assignment on masks that change often along a row (12 ms against 1 ms at 3 MP)."""
    if target.ndim != 2 or not target.flags.c_contiguous or target.dtype not in _CV_TYPES:
        target[where] = value
        return
    copy_where(target, np.full(target.shape, value, target.dtype), where)


def copy_where(target: np.ndarray, source: np.ndarray, where: np.ndarray) -> None:
    """``target[where] = source[where]`` in place (arrays (H, W) of one shape and dtype, a
    bool ``where``): OpenCV's masked copy where it applies (as `fill_where`)."""
    if target.ndim != 2 or not target.flags.c_contiguous or target.dtype not in _CV_TYPES:
        np.copyto(target, source, where=where)
        return
    copied = cv2.copyTo(np.ascontiguousarray(source), where.view(np.uint8), target)
    if not np.shares_memory(copied, target):  # OpenCV made a new array: never expected
        target[...] = copied


_CV_TYPES = (np.dtype(np.uint8), np.dtype(np.int32), np.dtype(np.float32))


def one_hot(labels: np.ndarray, count: int) -> np.ndarray:
    """(H, W) integer labels in [0, count) to one-hot weights (count, H, W), float32."""
    return (labels[None] == np.arange(count)[:, None, None]).astype(np.float32)


def guided_filter(
    guide: np.ndarray, source: np.ndarray, *, radius: int, eps: float, subsample: int = 1
) -> np.ndarray:
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
    subsample : int
        Compute the linear coefficients on images shrunk by this factor and upsample them
        (He & Sun, "Fast Guided Filter", 2015); 1 is the exact filter.

    Returns
    -------
    ndarray of the shape of ``source``, float32
    """
    sources = source[None] if source.ndim == 2 else source
    prepared = GuidedFilter(guide, radius=radius, eps=eps, subsample=subsample)
    out = np.empty(sources.shape, dtype=np.float32)
    for plane, result in zip(sources, out, strict=True):
        result[...] = prepared(plane)
    return out[0] if source.ndim == 2 else out


class GuidedFilter:
    """`guided_filter` with the guide's statistics computed once, for filtering many planes
    one at a time (streaming over the frames of a stack).

    Parameters
    ----------
    guide : ndarray of shape (H, W), float32 in [0, 1]
    radius, eps, subsample
        As `guided_filter`.
    """

    def __init__(self, guide: np.ndarray, *, radius: int, eps: float, subsample: int = 1):
        self.guide = guide.astype(np.float32, copy=False)
        height, width = self.guide.shape
        self.size = (width, height)
        self.subsample = subsample
        self.small_size = (max(1, round(width / subsample)), max(1, round(height / subsample)))
        small_guide = self.guide
        if subsample > 1:
            small_guide = cv2.resize(self.guide, self.small_size, interpolation=cv2.INTER_AREA)
        small_radius = max(1, round(radius / subsample))
        self.window = (2 * small_radius + 1, 2 * small_radius + 1)
        self.small_guide = small_guide
        self.mean_guide = self._mean(small_guide)
        variance = self._mean(small_guide * small_guide) - self.mean_guide * self.mean_guide
        self.denominator = variance + np.float32(eps)

    def _mean(self, image: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(image, -1, self.window, borderType=cv2.BORDER_REFLECT)

    def __call__(self, plane: np.ndarray) -> np.ndarray:
        """The filtered ``plane`` (H, W) float32, same shape."""
        plane = plane.astype(np.float32, copy=False)
        if self.subsample > 1:
            plane = cv2.resize(plane, self.small_size, interpolation=cv2.INTER_AREA)
        mean_plane = self._mean(plane)
        covariance = self._mean(self.small_guide * plane) - self.mean_guide * mean_plane
        slope = covariance / self.denominator
        offset = mean_plane - slope * self.mean_guide
        mean_slope, mean_offset = self._mean(slope), self._mean(offset)
        if self.subsample > 1:
            mean_slope = cv2.resize(mean_slope, self.size, interpolation=cv2.INTER_LINEAR)
            mean_offset = cv2.resize(mean_offset, self.size, interpolation=cv2.INTER_LINEAR)
        return mean_slope * self.guide + mean_offset


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
    clipped = np.maximum(weights, np.float32(0.0), dtype=np.float32)
    total = clipped.sum(axis=0)
    empty = total <= 1e-12
    if empty.any():
        clipped[:, empty] = 1.0
        total[empty] = weights.shape[0]
    clipped /= total
    return clipped


def refine_labels(
    labels: np.ndarray, luma: np.ndarray, *, radius: int, eps: float, subsample: int = 1
) -> np.ndarray:
    """Soft weights from a decision map whose transitions follow the image's edges.

    The one-hot maps are guided-filtered with the decision-fused luminance as guide, then
    renormalised.

    Parameters
    ----------
    labels : ndarray of shape (H, W), int
        Winning source per pixel, in [0, N).
    luma : ndarray of shape (N, H, W), float32 in [0, 1]
        Luminance of the sources, at the resolution of ``labels``.
    radius, eps, subsample
        Guided-filter settings (`guided_filter`); radius 0 returns the one-hot maps
        unfiltered.

    Returns
    -------
    ndarray of shape (N, H, W), float32 in [0, 1], summing to 1 at every pixel
    """
    count = luma.shape[0]
    if radius == 0:
        return one_hot(labels, count)
    guide = luma[0].astype(np.float32, copy=True)
    for k in range(1, count):
        np.copyto(guide, luma[k], where=labels == k)
    # The filter is linear and keeps constants, so the last map is 1 minus the others.
    refined = np.empty(luma.shape, dtype=np.float32)
    refined[:-1] = guided_filter(
        guide, one_hot(labels, count)[:-1], radius=radius, eps=eps, subsample=subsample
    )
    refined[-1] = 1.0 - refined[:-1].sum(axis=0)
    return normalise_weights(refined)


def hard_decision(
    scores: np.ndarray,
    luma: np.ndarray,
    *,
    min_region: float,
    radius: int,
    eps: float,
    vote_window: int | None = None,
    amend: Callable[[np.ndarray], np.ndarray] | None = None,
    subsample: int = 1,
) -> np.ndarray:
    """The decision-map post-processing the decision methods share: the best-scoring source
    per pixel, an optional majority vote, removal of small regions, an optional amendment of
    the labels, and guided refinement along the image's edges.

    Parameters
    ----------
    scores : ndarray of shape (N, H, W)
        Larger is better (focus measures, or a network's soft masks).
    luma : ndarray of shape (N, H, W), float32 in [0, 1]
        Luminance of the sources at the resolution of ``scores`` (the refinement's guide).
    min_region : float
        Regions smaller than this fraction of the image go to their surroundings (0: none).
    radius, eps, subsample
        Guided-filter settings (`refine_labels`; radius 0: hard one-hot weights).
    vote_window : int, optional
        Side of the majority-vote window; None: no vote.
    amend : callable, optional
        ``labels (H, W) -> labels``, applied after the small regions are removed.

    Returns
    -------
    ndarray of shape (N, H, W), float32 in [0, 1], summing to 1 at every pixel
    """
    count = scores.shape[0]
    labels = winning_source(scores)
    if vote_window is not None:
        labels = majority_vote(labels, count, window=vote_window)
    min_area = int(min_region * labels.size)
    if min_area > 1:
        labels = remove_small_regions(labels, count, min_area=min_area)
    if amend is not None:
        labels = amend(labels)
    return refine_labels(labels, luma, radius=radius, eps=eps, subsample=subsample)


def segment_decision(
    scores: np.ndarray,
    *,
    threshold: float | None = None,
    dilate: int = 3,
    erode: int = 3,
    fill: str = "regions",
    min_region: float = 0.002,
) -> np.ndarray:
    """DFP's segmentation of a focus measure into a decision map (eqs. (17)-(19)), for N sources.

    1. Eq. (17): a pixel is decided where the best score beats the second best by more than
       ``threshold``; undecided pixels take the label of the nearest decided pixel.
    2. Eq. (18): each source's region is closed (dilated by ``dilate``, eroded by ``erode``);
       the closing only fills gaps, it never takes pixels a region already has.
    3. Eq. (19), ``fill``: "largest" keeps each source's largest connected region and hands the
       rest to the nearest kept region (the paper's largest-region flood fill, for one object
       in front of one background); "regions" hands regions smaller than ``min_region`` of the
       image to their surroundings (the same idea for scenes with several objects); "none"
       skips it.

    Parameters
    ----------
    scores : ndarray of shape (N, H, W)
        Larger is better (`mfif.focus.double_reblur`), in the units ``threshold`` is given in.
    threshold : float, optional
        t of eq. (17). None chooses it from the scores: a tenth of the median margin between
        the best and second-best score, so only near-ties are left undecided.
    dilate, erode : int
        k_d and k_e, sides of the square structuring elements (1: no closing).
    fill : {"regions", "largest", "none"}
    min_region : float
        Fraction of the image, for ``fill="regions"``.

    Returns
    -------
    ndarray of shape (H, W), int32, the winning source per pixel in [0, N)
    """
    if fill not in FILL_MODES:
        raise ValueError(f"fill must be one of {', '.join(FILL_MODES)}, not {fill!r}")
    count = scores.shape[0]
    labels = winning_source(scores)
    ordered = np.sort(scores, axis=0)
    margin = ordered[-1] - ordered[-2]
    if threshold is None:
        threshold = 0.1 * float(np.median(margin))
    labels = _nearest_label(labels, margin > threshold)  # eq. (17)
    labels = _close_regions(labels, count, dilate=dilate, erode=erode)  # eq. (18)
    if fill == "largest":  # eq. (19)
        labels = _keep_largest_regions(labels, count)
    elif fill == "regions":
        min_area = int(min_region * labels.size)
        if min_area > 1:
            labels = remove_small_regions(labels, count, min_area=min_area)
    return labels


def _nearest_label(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``labels`` where ``keep``; elsewhere the label of the nearest kept pixel."""
    if keep.all() or not keep.any():
        return labels
    from scipy import ndimage

    indices = ndimage.distance_transform_edt(~keep, return_distances=False, return_indices=True)
    return labels[indices[0], indices[1]]


def _close_regions(labels: np.ndarray, count: int, *, dilate: int, erode: int) -> np.ndarray:
    if dilate <= 1 and erode <= 1:
        return labels
    closed_labels = labels.copy()
    dilate_element = np.ones((dilate, dilate), np.uint8)
    erode_element = np.ones((erode, erode), np.uint8)
    for k in range(count):
        mask = (labels == k).view(np.uint8)
        closed = cv2.erode(cv2.dilate(mask, dilate_element), erode_element)
        closed_labels[closed.view(bool) & (labels != k)] = k
    return closed_labels


def _keep_largest_regions(labels: np.ndarray, count: int) -> np.ndarray:
    keep = np.zeros(labels.shape, dtype=bool)
    for k in range(count):
        regions, components, stats, _ = cv2.connectedComponentsWithStats(
            (labels == k).view(np.uint8), connectivity=4
        )
        if regions > 1:
            largest = 1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())
            keep |= components == largest
    return _nearest_label(labels, keep)
