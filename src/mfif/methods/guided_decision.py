"""mfif's refined decision map: focus measure -> winner -> consistency -> boundary -> guided
refinement. Designed here as the classical default (the README gives the benchmark behind it).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from ..concurrency import ordered_map
from ..decision import (
    GuidedFilter,
    RunningWinner,
    component_pixels,
    majority_vote,
    remove_small_regions,
    repair_patchy_labels,
)
from ..focus import reblur_detail, window_mean
from ..frames import SourceLuminance
from ..fusion import WeightedFuser
from ..options import Option
from ..scratch import FrameStore, ScratchSpaceError
from ..stack import to_unit_float
from .registry import register

__all__ = ["GuidedDecisionFuser"]


@register
class GuidedDecisionFuser(WeightedFuser):
    """Decision-map fusion with consistency checks, boundary re-decision and guided refinement.

    1. Focus measure: the window mean of the detail a re-blur removes
       (`mfif.focus.reblur_detail`).
    2. Decision: the best-focused source per pixel.
    3. Consistency: a decision both weak and patchy (no frame sharp at the focus measure's
       scale, as inside a barcode's bars) takes the confident one around it
       (`mfif.decision.repair_patchy_labels`; stacks of 4 frames or more); a majority vote,
       then regions smaller than a fraction of the image are handed to their surroundings,
       except where they are clearly sharper and, in stacks of 3 frames or more, their lead
       is not weak (a blurred frame's residue inside a barcode's bar is sharper than the
       sharp frame's flat inside, but not by much for the detail around it).
    4. Boundaries: a window-averaged measure lets a sharp region spill over its border by half
       a window. In a band around every decision boundary the winner is decided again with a
       small window; in stacks of 3 frames or more, a winner faint for the detail around it
       is taken only if it is focused between the sources meeting there (a blurred frame's
       spill on a flat area is not).
    5. Refinement: the one-hot maps are guided-filtered with the luminance of the decision-fused
       image as guide, so weight transitions follow the real edges, and renormalised.

    Steps 2-5 run at half resolution and the weights are upsampled bilinearly: on the benchmark
    this loses nothing measurable in PSNR and halves the run time. Sizes below are in pixels of
    the full-resolution image.

    Parameters
    ----------
    sigma : float
        Standard deviation of the re-blur in the focus measure.
    focus_window : int
        Averaging window of the focus measure.
    vote_window : int
        Window of the majority vote.
    min_region : float
        Smallest region kept, as a fraction of the image area.
    keep_ratio : float
        A smaller region is kept where its focus measure is at least this many times that of
        the source that would replace it; 0 removes every small region.
    boundary_band : int
        Half-width of the band around decision boundaries that is decided again; 0 disables.
    boundary_window : int
        Averaging window of the focus measure inside that band.
    radius : int
        Guided-filter radius.
    eps : float
        Guided-filter regularisation; smaller follows edges more tightly.
    repair_window : int
        Window of the patchy-decision repair (0: off). It cleans a barcode's bars, and costs
        0.3 dB where thin objects stand before a background that no frame focuses (README,
        "A visible failure, repaired").
    repair_lead : float
        The repair keeps a decision whose winner leads the runner-up by this fraction of the
        best detail over the window...
    repair_far_lead : float
        ...or leads every frame focused elsewhere (all but it and its two neighbours in the
        stack) by this fraction of it (a thin structure between two focal planes, README,
        "Thin structures between two focal planes")...
    repair_spread : float
        ...or where the labels over the window vary by at most this many frames.
    repair_distance : int
        ...and gives a weak decision the kept one that encloses it from at most this far on
        each side (along a row or a column).
    """

    name = "guided-decision"
    summary = "mfif's refined decision map: re-blur focus measure, consistency, guided filter"
    luminance_first = True  # every source is measured before any weight is known
    options = {
        "sigma": Option("float", low=0.1, high=50),
        "focus_window": Option("int", low=1, high=1001),
        "vote_window": Option("int", low=1, high=1001),
        "min_region": Option("float", low=0, high=1, high_open=True),
        "keep_ratio": Option("float", low=0, high=1000),
        "boundary_band": Option("int", low=0, high=1000),
        "boundary_window": Option("int", low=1, high=1001),
        "radius": Option("int", low=1, high=1000),
        "eps": Option("float", low=0, high=10, low_open=True),
        "repair_window": Option("int", low=0, high=1001),
        "repair_lead": Option("float", low=0, high=1000),
        "repair_spread": Option("float", low=0, high=1000),
        "repair_distance": Option("int", low=0, high=10000),
        "repair_far_lead": Option("float", low=0, high=1000),
    }

    def __init__(
        self,
        sigma: float = 1.5,
        focus_window: int = 9,
        vote_window: int = 15,
        min_region: float = 0.002,
        keep_ratio: float = 2.0,
        boundary_band: int = 8,
        boundary_window: int = 5,
        radius: int = 2,
        eps: float = 1e-3,
        repair_window: int = 61,
        repair_lead: float = 0.5,
        repair_spread: float = 1.0,
        repair_distance: int = 80,
        repair_far_lead: float = 1.0,
    ) -> None:
        self.sigma = sigma
        self.focus_window = focus_window
        self.vote_window = vote_window
        self.min_region = min_region
        self.keep_ratio = keep_ratio
        self.boundary_band = boundary_band
        self.boundary_window = boundary_window
        self.radius = radius
        self.eps = eps
        self.repair_window = repair_window
        self.repair_lead = repair_lead
        self.repair_spread = repair_spread
        self.repair_distance = repair_distance
        self.repair_far_lead = repair_far_lead

    def stream_weights(
        self,
        luma_of: SourceLuminance,
        count: int,
        shape: tuple[int, int],
        *,
        threads: int = 1,
    ) -> Iterator[np.ndarray]:
        """The full-resolution weight map of each source in turn, from ``luma_of(k)`` (H, W):
        each source is read once for the focus measure and once more if it wins anywhere.
        Large stacks keep half-resolution luminance planes in a scratch file
        (`mfif.scratch.FrameStore`)."""
        height, width = shape
        small = (max(1, width // 2), max(1, height // 2))

        # Labels of N frames spread by at most (N - 1) / 2: fewer frames are never repaired.
        repairs = self.repair_window > 0 and (count - 1) / 2 > self.repair_spread
        # From 3 frames a decision's lead is also weighed against the detail around it.
        weighs = repairs or (self.repair_window > 0 and count >= 3)
        coarse = RunningWinner(runner_up=weighs, away=2 if repairs else 0)
        fine = RunningWinner()
        wide_best: np.ndarray | None = None  # the best detail over the repair's window
        # Small stacks keep each source's shrunk luminance and filtered map in memory instead
        # of computing them again; large ones keep the luminance on disk (reading a frame
        # again costs more) and filter twice.
        cache = count * small[0] * small[1] * 4 <= _CACHE_BYTES
        shrunk_lumas = _KeptPlanes(count, small, in_memory=cache, bit_depth=16)
        keep_shrunk = shrunk_lumas.held
        # The focus maps that weigh a small region's replacement (`_keep_clear_winners`):
        # large stacks keep them on disk too (float32, exact), not measured again.
        weighs_regions = self.keep_ratio > 0 and self.min_region > 0
        focus_maps = _KeptPlanes(count, small, in_memory=cache, bit_depth=32, wanted=weighs_regions)

        def maps_of(
            luma: np.ndarray, size: tuple[int, int], *, focus_only: bool = False
        ) -> list[np.ndarray]:
            detail = reblur_detail(luma[None], sigma=self.sigma, output_size=size)
            maps = [window_mean(detail, _halve(self.focus_window))[0]]
            if focus_only:
                return maps
            if self.boundary_band > 0:
                maps.append(window_mean(detail, _halve(self.boundary_window))[0])
            if keep_shrunk:
                maps.append(cv2.resize(luma, size, interpolation=cv2.INTER_AREA))
            if weighs:
                maps.append(window_mean(detail, _halve(self.repair_window))[0])
            return maps

        def measure(k: int) -> list[np.ndarray | None]:
            # Measured in the source's own coordinates (an aligned frame is not softened).
            maps = luma_of.measured(k, maps_of, small)
            focus = maps.pop(0)
            edges = maps.pop(0) if self.boundary_band > 0 else None
            shrunk = maps.pop(0) if keep_shrunk else None
            around = maps.pop(0) if weighs else None
            return [shrunk, focus, edges, around]

        # Sources are measured on several threads; the winners are updated in order.
        measured = ordered_map(measure, range(count), threads)
        for k, (shrunk, focus, edges, around) in enumerate(measured):
            shrunk_lumas.put(k, shrunk)
            focus_maps.put(k, focus)
            coarse.update(k, focus)
            if edges is not None:
                fine.update(k, edges)
            if around is not None:
                wide_best = (
                    around if wide_best is None else np.maximum(wide_best, around, out=wide_best)
                )
        labels, weak, faint = self._weighed(coarse, fine, wide_best, repairs, threads)

        def focus_of(k: int) -> np.ndarray:
            if focus_maps.held:
                return focus_maps[k]
            only = functools.partial(maps_of, focus_only=True)
            return luma_of.measured(k, only, small)[0]

        labels = self._consistent(
            labels, count, coarse.best, focus_of, fine.labels, threads, weak=weak, faint=faint
        )

        def shrunk_luma(k: int) -> np.ndarray:
            if keep_shrunk:
                return shrunk_lumas[k]
            return cv2.resize(luma_of(k), small, interpolation=cv2.INTER_AREA)

        guide = _decision_fused(labels, count, shrunk_luma)
        shrunk_lumas.close()  # the planes are freed before the refinement
        focus_maps.close()
        radius = max(1, self.radius // 2)
        subsample = max(1, min(small) // 512)  # very large images: the fast guided filter
        refine = GuidedFilter(guide, radius=radius, eps=self.eps, subsample=subsample)
        for weight in _refined_weights(labels, count, refine, cache=cache, threads=threads):
            if not weight.any():  # a source that wins nowhere: its map is zero at any size
                yield np.zeros((height, width), np.float32)
            else:
                yield cv2.resize(weight, (width, height), interpolation=cv2.INTER_LINEAR)

    def _weighed(
        self,
        coarse: RunningWinner,
        fine: RunningWinner,
        wide_best: np.ndarray | None,
        repairs: bool,
        threads: int,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The ``coarse`` winners' labels (step 3's repair of weak, patchy decisions where
        ``repairs``: `mfif.decision.repair_patchy_labels`), where the decision is weak, and
        where the ``fine`` winners are faint (below `_FAINT` of ``wide_best``, the best detail
        over the repair's window, and weak); the last two None without ``wide_best`` (2
        frames, or no repair window), the last None without ``fine`` winners (no band).

        A decision is confident (not weak) where the winner leads the runner-up by
        `repair_lead` of the detail around it, or, where the frames focused elsewhere are
        tracked (``coarse.runner_up_away``: stacks the repair looks at), leads every one of
        them by `repair_far_lead` of it: a thin structure between two focal planes is nearly
        as sharp in both (a small lead over the other), and far sharper than in the frames
        that see the background through its blur (`benchmarks/fibres.py`). A small region
        where the decision is weak is not kept as clearly sharp, as a blurred frame's residue
        inside a bar is not. Stacks of 3 frames are never repaired (their labels spread by 1
        at most), but weighed."""
        if wide_best is None:
            return coarse.labels, None, None
        lead = coarse.best - coarse.runner_up
        if coarse.runner_up_away is not None:
            far_lead = coarse.best - coarse.runner_up_away
            lead[far_lead >= self.repair_far_lead * wide_best] = np.inf
        labels = coarse.labels
        if repairs:
            labels = repair_patchy_labels(
                labels, lead, wide_best, window=_halve(self.repair_window),
                min_lead=self.repair_lead, max_spread=self.repair_spread,
                distance=self.repair_distance / 2, threads=threads,
            )  # fmt: skip
        weak = lead < self.repair_lead * wide_best
        faint = None if fine.best is None else weak & (fine.best < _FAINT * wide_best)
        return labels, weak, faint

    def _consistent(
        self,
        labels: np.ndarray,
        count: int,
        best: np.ndarray,
        focus_of: Callable[[int], np.ndarray],
        fine_labels: np.ndarray | None,
        threads: int,
        *,
        weak: np.ndarray | None = None,
        faint: np.ndarray | None = None,
    ) -> np.ndarray:
        """The rest of step 3 and step 4 on the half-resolution ``labels`` (repaired already
        where weak and patchy): the majority vote, small regions
        handed to their surroundings unless clearly sharper (``best``, the winners' focus
        measure; ``focus_of(k)``, source k's) and not ``weak``, and the boundary band decided
        again by the small window's winners ``fine_labels`` (`_redecided_band`: where they
        are ``faint``, only those focused between the sources that meet there)."""
        labels = majority_vote(labels, count, window=_halve(self.vote_window), threads=threads)
        min_area = int(self.min_region * labels.size)
        if min_area > 1:
            voted = labels
            labels = remove_small_regions(voted, count, min_area=min_area, threads=threads)
            if self.keep_ratio > 0:
                _keep_clear_winners(
                    voted, labels, best, focus_of, self.keep_ratio, threads, weak=weak
                )
        if self.boundary_band > 0:
            labels = _redecided_band(labels, fine_labels, self.boundary_band // 2, faint=faint)
        return labels


def _halve(pixels: int) -> int:
    """A full-resolution window as an odd half-resolution one."""
    return pixels // 2 | 1


_CACHE_BYTES = 256 * 2**20  # per kind of half-resolution map kept for all sources


def _decision_fused(
    labels: np.ndarray, count: int, plane_of: Callable[[int], np.ndarray]
) -> np.ndarray:
    """The plane of the source ``labels`` (h, w) chooses at each pixel, from ``plane_of(k)``
    (h, w) float32 for each source chosen somewhere: the guide of the refinement."""
    fused = np.zeros(labels.shape, dtype=np.float32)
    for k in np.flatnonzero(np.bincount(labels.ravel(), minlength=count)):
        np.copyto(fused, plane_of(int(k)), where=labels == k)
    return fused


class _KeptPlanes:
    """One half-resolution plane per source (h, w) kept for a second look: in memory for a
    small stack, in a scratch file for a large one (reading a frame again costs more), to
    ``bit_depth`` 16 (luminance in [0, 1]: a guide's precision to spare, 2e-5 against the
    guided filter's eps of 1e-3, and half the bytes of float32, whose fresh pages are what
    they cost) or 32 (focus measures, exact). Not kept (``held`` false: they are computed
    again) when not ``wanted`` or when the scratch folder cannot hold them."""

    def __init__(
        self, count: int, size: tuple[int, int], *, in_memory: bool, bit_depth: int,
        wanted: bool = True,
    ) -> None:  # fmt: skip
        self._memory: dict[int, np.ndarray] | None = {} if wanted and in_memory else None
        self._store: FrameStore | None = None
        if wanted and not in_memory:
            with contextlib.suppress(ScratchSpaceError):
                self._store = FrameStore(count, size[1], size[0], 1, bit_depth=bit_depth)

    @property
    def held(self) -> bool:
        return self._memory is not None or self._store is not None

    def put(self, k: int, plane: np.ndarray) -> None:
        if self._memory is not None:
            self._memory[k] = plane
        elif self._store is not None:
            self._store.write(k, plane)

    def __getitem__(self, k: int) -> np.ndarray:
        """Plane ``k``, float32 (``held`` only)."""
        if self._memory is not None:
            return self._memory[k]
        plane = self._store.read(k)[..., 0]
        return plane if plane.dtype == np.float32 else to_unit_float(plane, f"plane {k}")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self._memory = self._store = None


def _refined_weights(
    labels: np.ndarray, count: int, refine: GuidedFilter, *, cache: bool, threads: int = 1
) -> Iterator[np.ndarray]:
    """`mfif.decision.refine_labels` one source at a time: each one-hot map guided-filtered,
    the last one 1 minus the others, negatives clipped and renormalised. The total comes
    first, so without ``cache`` each map is filtered twice and at most three (and one more
    per thread) are held. Maps are filtered on ``threads`` threads and summed in order."""
    present = np.bincount(labels.ravel(), minlength=count) > 0
    kept: dict[int, np.ndarray] = {}

    def filtered(k: int) -> np.ndarray:
        if k in kept:
            return kept.pop(k)
        if not present[k]:  # the filter of a zero map is zero
            return np.zeros(labels.shape, dtype=np.float32)
        return refine((labels == k).astype(np.float32))

    others = np.zeros(labels.shape, dtype=np.float32)
    total = np.zeros(labels.shape, dtype=np.float32)
    for k, plane in enumerate(ordered_map(filtered, range(count - 1), threads)):
        if cache:
            kept[k] = plane
        others += plane
        total += np.maximum(plane, 0.0)
    last = 1.0 - others
    total += np.maximum(last, 0.0)
    empty = total <= 1e-12
    total[empty] = count
    planes = itertools.chain(ordered_map(filtered, range(count - 1), threads), [last])
    for plane in planes:
        plane = np.maximum(plane, 0.0)
        plane[empty] = 1.0
        yield plane / total


def _keep_clear_winners(
    voted: np.ndarray,
    labels: np.ndarray,
    best: np.ndarray,
    focus_of: Callable[[int], np.ndarray],
    ratio: float,
    threads: int = 1,
    *,
    weak: np.ndarray | None = None,
) -> None:
    """Give back to a small region the pixels where its focus measure ``best`` is at least
    ``ratio`` times that of the source that would replace it (``labels`` is changed in
    place): small-region removal is meant for decisions noise made, not for a small part
    that is clearly sharp in one frame (the lead of a chip among a board focused in another
    frame), which it would blur. Pixels flagged ``weak`` (a lead small for the detail around
    them: `GuidedDecisionFuser._weighed`) are not given back, nor, in the stacks where they
    are flagged (3 frames or more, with frames far out of focus), groups of fewer than
    `_FEWEST_KEPT` pixels: scattered pixels that lead by chance (JPEG blocking on a blurred
    frame's ramp beside a bar's edge, on `petteri__pcb`) would then be grown by the
    boundary's re-decision into grey squares. The replacing sources are measured on
    ``threads`` threads."""
    changed = voted != labels
    replacing = [int(k) for k in np.unique(labels[changed])]
    give_back = np.zeros(labels.shape, bool)
    for k, focus in zip(replacing, ordered_map(focus_of, replacing, threads), strict=True):
        clear = changed & (labels == k) & (best >= ratio * focus)
        if weak is not None:
            clear &= ~weak
        give_back |= clear
    if weak is not None and give_back.any():
        _, groups, sizes, _ = cv2.connectedComponentsWithStats(give_back.view(np.uint8))
        large = sizes[:, cv2.CC_STAT_AREA] >= _FEWEST_KEPT
        large[0] = False  # the background of the mask
        give_back = component_pixels(groups, large, sizes)
    labels[give_back] = voted[give_back]


_FEWEST_KEPT = 9  # pixels at half resolution (6 x 6 at full) a given-back group holds


def _redecided_band(
    labels: np.ndarray,
    fine_labels: np.ndarray,
    half_width: int,
    *,
    faint: np.ndarray | None = None,
) -> np.ndarray:
    """Step 4: ``labels`` (h, w) with the pixels within ``half_width`` of another label given
    the small window's winner ``fine_labels`` (h, w), which moves a boundary to where the
    sources meeting there change places.

    Where that winner is ``faint`` (h, w) bool (its small-window detail below `_FAINT` of the
    best detail over the repair's window, and the decision weak; stacks of 3 frames or
    more), it is taken only if it is focused between the sources that meet within
    ``half_width`` (its index between their lowest and highest, the stack being in focus
    order): there the depth lies between theirs. In a flat area along a boundary (the lit lip
    of a shelf between frames 9 and 11, which both focus it, in `lfsd_lytro__scene007`) the
    small window's winner is whichever blurred frame's spill is strongest, frames 0, 1 and
    6, which drew specks of the dark shelf's blur on the lip. A winner with detail (a thin
    stroke between two focal planes) is taken wherever it is focused. Without ``faint``,
    every winner is taken."""
    if half_width < 1:
        return labels
    kernel = np.ones((2 * half_width + 1, 2 * half_width + 1), np.uint8)
    codes = labels.astype(np.uint16)  # OpenCV morphology takes 8- or 16-bit images
    highest, lowest = cv2.dilate(codes, kernel), cv2.erode(codes, kernel)
    taken = (highest != lowest) & (fine_labels != labels)  # the band, where its winner differs
    if faint is not None:
        between = (fine_labels >= lowest) & (fine_labels <= highest)
        taken &= between | ~faint
    return np.where(taken, fine_labels, labels)


_FAINT = 0.25  # of the best detail over the repair's window (fibres' strokes: 0.3-0.7)
