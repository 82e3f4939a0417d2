"""Registration of a focus stack to a reference frame, gain matching and the valid region.

Real stacks breathe (magnification changes with focus) and drift. Each frame is registered to
its neighbour, because frames at opposite ends of a sweep share little sharp detail, and the
neighbour transforms are composed into one transform per frame from the reference frame (the
middle one by default). Registration is OpenCV's ECC (Evangelidis & Psarakis, IEEE TPAMI
30(10), 2008) on a defocus-robust signal, band-passed luminance, coarse to fine; when ECC does
not converge, SIFT features with RANSAC give the start. ECC has no similarity model, so a
similarity is fitted as an affine transform and projected onto the nearest similarity at every
level; a similarity is then refined with bicubic sampling (`mfif.subpixel`), since ECC's
bilinear sampling pulls it towards whole pixels. Frames are then resampled into the reference
frame (`mfif.warp`: bicubic, clamped, float32, so 16-bit stacks keep their precision), their
brightness is matched to the reference by one gain per channel, and the region every frame
covers is recorded (and by default cropped to).

`auto` first checks cheaply whether anything moved: each pair registered on one level 256
pixels across (`still_alignment`); a stack whose frames all stayed within half a pixel is
not registered further. Otherwise it registers with the similarity model, registers each
pair again on a lower band to measure how far registration can be trusted
(`FrameTransform.uncertainty`), and takes the stack as still when every frame moved less
than a pixel or less than 4 times that uncertainty (`Alignment.is_still`): under strong,
complementary defocus registration reports false motions of a pixel or two on stacks that did
not move. A still stack is never resampled: it is passed through untouched when every gain is
within 2 % of 1 (`Alignment.is_identity`; already registered stacks fuse exactly as before),
else only its brightness is matched (`Alignment.without_motion`).

Conventions: a transform is a 3x3 matrix that maps pixel coordinates of the reference frame to
those of the frame, so that ``aligned(x) = frame(T x)`` (OpenCV's ``WARP_INVERSE_MAP``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

import cv2
import numpy as np

from .errors import AlignmentError, OptionError
from .frames import ArrayFrames, FrameSource, SelectedFrames
from .stack import Stack
from .subpixel import refine_similarity
from .summaries import (
    FrameSummary,
    Levels,
    LevelsOf,
    frame_summary,
    thumbnail_stride,
)
from .warp import (
    MOTION_MODELS,
    AlignedFrames,
    Alignment,
    FrameTransform,
    apply_alignment,
    coverage,
    resample,
    resize_scaling,
)

__all__ = [
    "MOTION_MODELS",
    "ALIGN_CHOICES",
    "AlignmentError",
    "FrameTransform",
    "Alignment",
    "estimate_alignment",
    "apply_alignment",
    "align_frames",
    "align_stack",
    "still_alignment",
]

_logger = logging.getLogger(__name__)

ALIGN_CHOICES = ("auto", "none", *MOTION_MODELS)

_ECC_MOTION = {
    "translation": cv2.MOTION_TRANSLATION,
    "similarity": cv2.MOTION_AFFINE,  # projected onto a similarity after each level
    "affine": cv2.MOTION_AFFINE,
    "homography": cv2.MOTION_HOMOGRAPHY,
}
_MIN_CORRELATION = 0.3  # ECC correlation below this: the frames do not match
_MIN_SIDE_TO_ALIGN = 32  # pixels; `auto` leaves smaller images alone (too little to register)
# `auto`'s cheap check registers one level `_STILL_CHECK_SIDE` pixels across
# (`mfif.summaries`) and passes the stack through when no frame moved by more than this many
# pixels (at full size): half the identity tolerance, since one coarse level measures a few
# tenths of a pixel less precisely.
_STILL_TOLERANCE = 0.5


# --- estimation -----------------------------------------------------------------------------


def estimate_alignment(
    stack: Stack | FrameSource,
    *,
    model: str = "similarity",
    reference: int | None = None,
    skip_bad_frames: bool = False,
    uncertainty: bool = False,
    keep_unregistered: bool = False,
) -> tuple[Alignment, list[int]]:
    """Register every frame of ``stack`` to the reference, through its neighbours.

    Parameters
    ----------
    stack : Stack or FrameSource
        N >= 2 frames in focus order; a `FrameSource` (frames on disk, say) is read one
        frame at a time, for stacks too large to hold in memory.
    model : {"translation", "similarity", "affine", "homography"}
    reference : int, optional
        Index of the reference frame; default the middle one, N // 2.
    skip_bad_frames : bool
        Drop a frame that cannot be registered (with a warning) instead of raising.
    uncertainty : bool
        Also register each pair again on a lower band, from the first result, and record how
        far the two disagree at the image corners (`FrameTransform.uncertainty`): under
        strong defocus differences registration finds motions of a pixel or two that did
        not happen, and its two bands then disagree by as much.
    keep_unregistered : bool
        A frame that cannot be registered to its neighbour is taken as not moved from it
        (with a warning; its correlation is recorded as 0) instead of raising;
        ``skip_bad_frames`` drops it instead. `auto` alignment's choice: under strong
        defocus differences (the bars of a barcode sharp in one frame, reversed in contrast
        by a blur wider than them in the next) frames that never moved may not match.

    Returns
    -------
    alignment : Alignment
        Transforms of the kept frames.
    dropped : list of int
        Indices of the frames that were dropped.

    Raises
    ------
    AlignmentError
        A frame cannot be registered (and ``skip_bad_frames`` is False).
    """
    if model not in MOTION_MODELS:
        raise OptionError(
            f"The motion model must be one of {', '.join(MOTION_MODELS)}; got {model!r}."
        )
    frames = ArrayFrames(stack) if isinstance(stack, Stack) else stack
    count, height, width = frames.shape[:3]
    names = frames.names
    reference = _checked_reference(reference, count)
    stride = thumbnail_stride(height, width)
    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:  # OpenCV frees the GIL
        summaries = _summaries(frames, pool)
        levels = LevelsOf(summaries, kept=2 * workers + 2)  # the frames of the pairs in hand
        thumbnails = np.stack([summary.thumbnail for summary in summaries])
        found = _register_neighbours(levels, reference, model, pool, check=uncertainty)
    failed = "drop" if skip_bad_frames else "keep" if keep_unregistered else "raise"
    matrices, checked, correlations, dropped = _composed(
        found, levels, reference, model, names, failed, check=uncertainty,
        same_scene=lambda anchor, k: _same_scene(thumbnails[anchor], thumbnails[k]),
    )  # fmt: skip
    kept = sorted(matrices)
    if len(kept) < 2:
        raise AlignmentError("Fewer than 2 frames could be registered; nothing to fuse.")
    new_reference = kept.index(reference)
    gains = _gains(thumbnails[kept], [matrices[k] for k in kept], new_reference, stride)
    transforms = tuple(
        FrameTransform(
            matrices[k], gains[i], correlations[k],
            _corner_distance(matrices[k], checked[k], height, width) if uncertainty else 0.0,
        )
        for i, k in enumerate(kept)
    )  # fmt: skip
    return Alignment(model, new_reference, (height, width), transforms), dropped


_SAME_SCENE_SIDE = 32  # px: the long side of the thumbnails `_same_scene` compares
_SAME_SCENE_CORRELATION = 0.7  # frames of one scene 0.8-0.99; a 10 % shift passes 6 in 20


def _same_scene(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two frames' thumbnails (h, w, C) show the same scene, however differently
    focused: their luminance, shrunk to `_SAME_SCENE_SIDE` pixels across (where defocus
    of tens of pixels is a pixel or less), correlates by `_SAME_SCENE_CORRELATION` or more.
    Frames of one scene that registration cannot match (a barcode's bars sharp in one,
    reversed in contrast by a wider blur in the next) gave 0.8-0.99 on synthetic stacks;
    noise, another generated image or another photograph -0.2 to 0.04."""
    height, width = first.shape[:2]
    factor = min(1.0, _SAME_SCENE_SIDE / max(height, width))
    size = (max(2, round(width * factor)), max(2, round(height * factor)))
    planes = [_luminance_at(thumbnail, size) for thumbnail in (first, second)]
    return _correlation_of(*planes) >= _SAME_SCENE_CORRELATION  # a flat one: 0


def _luminance_at(thumbnail: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A thumbnail's (h, w, C) mean over channels, area-resized to ``size`` (w, h), float32."""
    plane = np.asarray(thumbnail, np.float32).mean(axis=-1)
    return cv2.resize(plane, size, interpolation=cv2.INTER_AREA)


def _summaries(frames: FrameSource, pool: ThreadPoolExecutor) -> list[FrameSummary]:
    """Each frame's `FrameSummary`: made while decoding when the source has them, else made
    here (one frame at a time per thread, as stored) and kept on the source for later."""
    known = frames.summaries or [None] * len(frames)
    made = list(
        pool.map(
            lambda k: known[k] if known[k] is not None else frame_summary(frames.samples(k)),
            range(len(frames)),
        )
    )
    frames.summaries = made
    return made


def _register_neighbours(
    levels: LevelsOf | Sequence[Levels],
    reference: int,
    model: str,
    pool: ThreadPoolExecutor,
    *,
    check: bool = False,
    give_up: Callable[[tuple | AlignmentError], bool] | None = None,
) -> dict | None:
    """Every frame registered to its neighbour towards the reference, all pairs at once (they
    are independent): {(anchor, frame): (matrix, correlation) or AlignmentError}; with
    ``check``, (matrix, correlation, the matrix registered again on the lower band). None,
    and the pairs not yet started left undone, as soon as ``give_up(result)`` holds for one."""
    count = len(levels)
    pairs = [(k - 1, k) if k > reference else (k + 1, k) for k in range(count) if k != reference]

    def register(pair: tuple[int, int]) -> tuple | AlignmentError:
        result = _try_register(levels, *pair, model)
        if not check or isinstance(result, AlignmentError):
            return result
        return (*result, _checked_step(levels, *pair, result[0], model))

    if give_up is None:
        return dict(zip(pairs, pool.map(register, pairs), strict=True))
    futures = {pool.submit(register, pair): pair for pair in pairs}
    found = {}
    for future in as_completed(futures):
        result = future.result()
        if give_up(result):
            for pending in futures:
                pending.cancel()
            return None
        found[futures[future]] = result
    return found


def _checked_step(
    levels: LevelsOf | Sequence[Levels], anchor: int, k: int, step: np.ndarray, model: str
) -> np.ndarray:
    """``step`` (anchor -> frame k) registered again on the lower band (`_refined`)."""
    (scale, fixed), (_, image) = levels[anchor].check, levels[k].check
    return _refined(fixed, image, step, model, scale)


def _composed(
    found: dict,
    levels: LevelsOf | Sequence[Levels],
    reference: int,
    model: str,
    names: Sequence[str],
    failed: str,
    *,
    check: bool,
    same_scene: Callable[[int, int], bool] = lambda anchor, k: True,
) -> tuple[dict, dict, dict, list[int]]:
    """The neighbour registrations ``found`` composed into reference -> frame transforms,
    outwards from the reference; with ``check``, the same chain registered again on the
    summaries' lower band. A frame that cannot be registered to its neighbour (``failed``):
    "raise"; "drop" it (the next one is registered to the last one kept on its side); or
    "keep" it as not moved from its neighbour when ``same_scene(anchor, k)`` says it shows
    the same scene (else raise: a frame of another scene is refused).

    Returns matrices, checked matrices, correlations (each by frame index) and the dropped
    frames.
    """
    count = len(levels)
    matrices: dict[int, np.ndarray] = {reference: np.eye(3)}
    checked: dict[int, np.ndarray] = {reference: np.eye(3)}  # the same chain on another band
    correlations: dict[int, float] = {reference: 1.0}
    dropped: list[int] = []
    for direction in (1, -1):
        anchor = reference  # the last frame registered on this side
        for k in range(reference + direction, count if direction == 1 else -1, direction):
            result = found.get((anchor, k)) or _try_register(levels, anchor, k, model)
            if isinstance(result, AlignmentError):
                message = (
                    f"Frame {k} ({names[k]}) cannot be registered to frame {anchor} "
                    f"({names[anchor]}): {result}"
                )
                if failed == "raise" or (failed == "keep" and not same_scene(anchor, k)):
                    raise AlignmentError(
                        message + " (--skip-bad-frames drops such frames; --align none fuses a "
                        "stack that did not move, however different its frames' focus)."
                    )
                if failed == "drop":
                    _logger.warning("%s; dropped.", message)
                    dropped.append(k)
                    continue
                _logger.warning(
                    "%s; taken as not moved from it (--skip-bad-frames drops it).", message
                )
                result = (np.eye(3), 0.0, np.eye(3))
            step, correlation = result[:2]
            matrices[k] = step @ matrices[anchor]  # reference -> anchor -> k
            correlations[k] = correlation
            if check:  # made with the pair's registration, unless the anchor is not its own
                again = (
                    result[2] if len(result) > 2 else _checked_step(levels, anchor, k, step, model)
                )
                checked[k] = again @ checked[anchor]
            anchor = k
    return matrices, checked, correlations, dropped


def _try_register(
    levels: LevelsOf | Sequence[Levels], anchor: int, k: int, model: str
) -> tuple[np.ndarray, float] | AlignmentError:
    try:
        return _register(levels[anchor], levels[k], model)
    except AlignmentError as error:
        return error


def _register(
    template_levels: Levels, moving_levels: Levels, model: str
) -> tuple[np.ndarray, float]:
    """3x3 transform from template coordinates to moving-frame coordinates, and the ECC
    correlation at the finest level.

    A similarity is registered by ECC down to the level above the finest, then refined on the
    finest (`refine_similarity`, needed anyway: ECC's bilinear sampling pulls it towards whole
    pixels). ECC on the finest level took two thirds of registration's time and the
    refinement lands on the same transform from either start (within 0.001 px on
    `petteri__pcb` and `cmcguinness__ring`); where it does not converge, ECC runs on the
    finest level after all."""
    template, moving = template_levels.pyramid, moving_levels.pyramid
    refine = model == "similarity"
    coarse = len(template) - 1 if refine and len(template) > 1 else len(template)
    warp, correlation = _ecc_pyramid(template[:coarse], moving[:coarse], model)
    if coarse < len(template):
        warp = _rescale(warp, template[-1][0] / template[coarse - 1][0])
        refined = refine_similarity(template_levels.fine, moving_levels.fine, warp)
        if refined is warp:  # no convergence: the finest level by ECC, from here
            warp, correlation = _ecc_pyramid(template[-1:], moving[-1:], model, start=warp)
            refined = refine_similarity(template_levels.fine, moving_levels.fine, warp)
        else:
            correlation = _correlation(template[-1][1], moving[-1][1], refined)
        warp = refined
    elif refine:
        warp = refine_similarity(template_levels.fine, moving_levels.fine, warp)
    if correlation < _MIN_CORRELATION:
        raise AlignmentError(f"they do not match (correlation {correlation:.2f})")
    _check_plausible(warp, template[-1][1].shape, template[-1][0])
    return _rescale(warp, 1.0 / template[-1][0]), float(correlation)


def _ecc_pyramid(
    template: list, moving: list, model: str, *, start: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """ECC from the coarsest of the (scale, band) levels to the finest given: the transform
    at the last level's scale and the correlation there."""
    warp = np.eye(3, dtype=np.float32) if start is None else start.astype(np.float32)
    correlation = 0.0
    previous_scale = None
    motion = _ECC_MOTION[model]
    for level, ((scale, fixed), (_, image)) in enumerate(zip(template, moving, strict=True)):
        if previous_scale is not None:
            warp = _rescale(warp, scale / previous_scale)
        previous_scale = scale
        iterations = 100 if level == 0 and start is None else 50
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5)
        try:
            correlation, found = cv2.findTransformECC(
                fixed, image, _ecc_matrix(warp, motion), motion, criteria, None, 3
            )
        except cv2.error:
            if start is not None:  # keep the start
                correlation = _correlation(fixed, image, warp)
                break
            if level > 0:
                break  # keep what the coarser levels found
            try:
                warp = _features_start(fixed, image)
                correlation, found = _retry_ecc(fixed, image, warp, motion, criteria)
            except AlignmentError:
                # Nothing to lock onto (little texture): frames that already match as they
                # are, are registered; others are not.
                correlation = float(cv2.computeECC(fixed, image))
                if correlation < _MIN_CORRELATION:
                    raise
                found = np.eye(3, dtype=np.float32)
        warp = _as_3x3(found)
        if model == "similarity":
            warp = _nearest_similarity(warp)
    return warp, float(correlation)


def _correlation(fixed: np.ndarray, image: np.ndarray, warp: np.ndarray) -> float:
    """ECC's correlation of ``fixed`` with ``image`` sampled through ``warp`` (fixed's
    coordinates -> image's)."""
    height, width = fixed.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    if warp[2, 0] == 0 and warp[2, 1] == 0:
        sampled = cv2.warpAffine(image, np.float64(warp[:2]), (width, height), flags=flags)
    else:
        sampled = cv2.warpPerspective(image, np.float64(warp), (width, height), flags=flags)
    return float(cv2.computeECC(fixed, sampled))


def _refined(
    fixed: np.ndarray, image: np.ndarray, step: np.ndarray, model: str, scale: float
) -> np.ndarray:
    """``step`` (full-resolution template -> frame) registered again on the lower band
    (images at ``scale``), from itself; ``step`` when ECC does not converge there."""
    motion = _ECC_MOTION[model]
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
    start = _rescale(step.astype(np.float32), scale)
    try:
        _, found = cv2.findTransformECC(
            fixed, image, _ecc_matrix(start, motion), motion, criteria, None, 3
        )
    except cv2.error:
        return step
    warp = _as_3x3(found)
    if model == "similarity":  # refined as the first result was, so that they compare
        warp = refine_similarity(fixed, image, _nearest_similarity(warp))
    return _rescale(warp.astype(np.float64), 1.0 / scale)


def _corner_distance(first: np.ndarray, second: np.ndarray, height: int, width: int) -> float:
    """Largest distance, in pixels, between where two transforms take an image corner."""
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], float)
    a, b = corners @ first.T, corners @ second.T
    return float(np.abs(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:]).max())


def _retry_ecc(fixed, image, warp, motion, criteria) -> tuple[float, np.ndarray]:
    try:
        return cv2.findTransformECC(
            fixed, image, _ecc_matrix(warp, motion), motion, criteria, None, 3
        )
    except cv2.error:
        raise AlignmentError("no consistent motion was found (too little overlap?)") from None


def _features_start(fixed: np.ndarray, image: np.ndarray) -> np.ndarray:
    """A similarity from SIFT features (Lowe's ratio test) and RANSAC, as a start for ECC."""
    sift = cv2.SIFT_create()

    def as_bytes(band: np.ndarray) -> np.ndarray:
        return cv2.normalize(band, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)

    points_fixed, described_fixed = sift.detectAndCompute(as_bytes(fixed), None)
    points_image, described_image = sift.detectAndCompute(as_bytes(image), None)
    if described_fixed is None or described_image is None or len(points_image) < 2:
        raise AlignmentError("no features to match")
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(described_fixed, described_image, k=2)
    matches = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    if len(matches) < 8:
        raise AlignmentError("too few matching features")
    source = np.float32([points_fixed[m.queryIdx].pt for m in matches])
    target = np.float32([points_image[m.trainIdx].pt for m in matches])
    matrix, inliers = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC)
    if matrix is None or int(inliers.sum()) < 8:
        raise AlignmentError("too few consistent matching features")
    return _as_3x3(matrix)


def _ecc_matrix(warp: np.ndarray, motion: int) -> np.ndarray:
    matrix = warp if motion == cv2.MOTION_HOMOGRAPHY else warp[:2]
    return np.ascontiguousarray(matrix, dtype=np.float32)


def _as_3x3(matrix: np.ndarray) -> np.ndarray:
    if matrix.shape == (3, 3):
        return matrix.astype(np.float32)
    return np.vstack([matrix, [0.0, 0.0, 1.0]]).astype(np.float32)


def _rescale(warp: np.ndarray, factor: float) -> np.ndarray:
    """The same motion in coordinates multiplied by ``factor``: S W S^-1."""
    scale = np.diag([factor, factor, 1.0])
    result = scale @ warp.astype(np.float64) @ np.linalg.inv(scale)
    return result.astype(np.float32) if warp.dtype == np.float32 else result


def _nearest_similarity(warp: np.ndarray) -> np.ndarray:
    """The similarity [[a, -b, tx], [b, a, ty]] closest to an affine transform."""
    a = (warp[0, 0] + warp[1, 1]) / 2
    b = (warp[1, 0] - warp[0, 1]) / 2
    return np.array([[a, -b, warp[0, 2]], [b, a, warp[1, 2]], [0, 0, 1]], dtype=warp.dtype)


def _check_plausible(warp: np.ndarray, shape: tuple[int, int], scale: float) -> None:
    """Neighbouring frames of a focus stack differ by a few percent, not by a flip."""
    linear = warp[:2, :2].astype(np.float64)
    singular = np.linalg.svd(linear, compute_uv=False)
    height, width = shape
    shift = np.hypot(*warp[:2, 2]) / max(height, width)
    if singular.min() < 0.7 or singular.max() > 1.4 or np.linalg.det(linear) < 0 or shift > 0.3:
        raise AlignmentError("the motion found is implausible for neighbouring frames")


def _gains(
    small: np.ndarray, matrices: Sequence[np.ndarray], reference: int, stride: int
) -> list[tuple]:
    """Per-channel gain of each frame to the reference's brightness, over the common region,
    from the frames subsampled by ``stride`` (N, h, w, C).

    Defocus moves light around but keeps the mean, so ratios of means over the region every
    frame covers measure exposure changes only.
    """
    warped = []
    valid = np.ones(small.shape[1:3], bool)
    scale = 1.0 / stride
    for image, matrix in zip(small, matrices, strict=True):
        scaled = _rescale(matrix, scale)
        warped.append(resample(image, scaled, small.shape[1:3]))
        covered = coverage(image.shape[:2], scaled, small.shape[1:3])
        valid &= covered
    if valid.sum() < 16:
        return [tuple(1.0 for _ in range(small.shape[3]))] * len(small)
    mask = valid.view(np.uint8)
    channels = small.shape[3]
    means = np.array([cv2.mean(frame, mask)[:channels] for frame in warped], dtype=np.float64)
    gains = means[reference] / np.maximum(means, 1e-6)
    return [tuple(float(g) for g in row) for row in gains]


def align_frames(
    frames: FrameSource,
    *,
    model: str = "auto",
    reference: int | None = None,
    crop: bool | tuple[int, int, int, int] = True,
    skip_bad_frames: bool = False,
    alignment: Alignment | None = None,
) -> tuple[FrameSource, Alignment | None]:
    """The pipeline's alignment stage on any storage: register (or take ``alignment``), then
    read the frames aligned (`mfif.warp.AlignedFrames`, resampled as they are read).

    Parameters
    ----------
    frames : FrameSource
    model : {"auto", "none", "translation", "similarity", "affine", "homography"}
        "auto" (default) registers with the similarity model and never resamples a still
        stack (`Alignment.is_still`): it passes it through untouched, or matches only its
        brightness when a gain is 2 % or more from 1; a frame it cannot register to its
        neighbour but whose thumbnail shows the same scene is taken as not moved from it,
        with a warning (one of another scene is refused); a stack smaller than 32 pixels is
        passed through;
        "none" skips alignment.
    reference : int, optional
        Reference frame; default the middle one.
    crop : bool or (top, left, height, width)
        See `mfif.warp.AlignedFrames` (a stack left untouched is not cropped).
    skip_bad_frames : bool
        See `estimate_alignment`.
    alignment : Alignment, optional
        A saved alignment to apply instead of estimating one.

    Returns
    -------
    frames : FrameSource
        The aligned frames (``frames`` itself, or the frames kept, when nothing was resampled).
    alignment : Alignment or None
        What was estimated or applied; None when alignment was skipped.

    The frames' summaries (``frames.summaries``, registration's data: a few MB per frame with
    its pyramid) are released once the alignment is known, so that memory does not grow with
    the number of frames while they are fused.
    """
    try:
        return _aligned_frames(frames, model, reference, crop, skip_bad_frames, alignment)
    finally:
        frames.summaries = None


def _aligned_frames(
    frames: FrameSource,
    model: str,
    reference: int | None,
    crop: bool | tuple[int, int, int, int],
    skip_bad_frames: bool,
    alignment: Alignment | None,
) -> tuple[FrameSource, Alignment | None]:
    if model not in ALIGN_CHOICES:
        raise OptionError(f"align must be one of {', '.join(ALIGN_CHOICES)}; got {model!r}.")
    _checked_reference(reference, len(frames))
    if alignment is not None:
        return AlignedFrames(frames, alignment, crop=crop), alignment
    if model == "none" or (model == "auto" and min(frames.size) < _MIN_SIDE_TO_ALIGN):
        return frames, None
    if model == "auto":
        still = still_alignment(frames, reference)
        if still is not None:
            _logger.info("nothing moved (coarse check)")
            return _unmoved(frames, still, list(range(len(frames))), crop)
    estimated, dropped = estimate_alignment(
        frames,
        model="similarity" if model == "auto" else model,
        reference=reference,
        skip_bad_frames=skip_bad_frames,
        uncertainty=model == "auto",
        keep_unregistered=model == "auto",
    )
    kept = [k for k in range(len(frames)) if k not in dropped]
    if model == "auto" and not estimated.is_still:
        thumbnails = [frames.summaries[k].thumbnail for k in kept]
        names = [frames.names[k] for k in kept]
        estimated = _motion_the_coarse_view_supports(estimated, thumbnails, names)
    if model == "auto" and estimated.is_still:
        _logger.info("the stack is already registered")
        return _unmoved(frames, estimated, kept, crop)
    return AlignedFrames(frames, estimated, kept=kept, crop=crop), estimated


_MOTION_CHECK_SIDE = 128  # px: the long side of the view that checks large motions


def _motion_the_coarse_view_supports(
    alignment: Alignment, thumbnails: Sequence[np.ndarray], names: Sequence[str]
) -> Alignment:
    """``alignment`` with each motion that a coarse view of the frames contradicts taken as
    none (with a warning): `auto`'s check that registration was not fooled.

    Under strong defocus differences (a barcode's bars sharp in one frame, blurred wider than
    themselves in the next) registration can match the wrong bars and find shifts of 6-21 px
    that never happened. Shrunk to `_MOTION_CHECK_SIDE` pixels across, where defocus is
    about a pixel, each frame's thumbnail (h, w, C) is compared with the reference's as it is
    and moved by its estimated motion: a motion of a pixel or more there that lowers their
    correlation is contradicted. Real motion raised it on every moved frame of the misaligned
    set, `petteri__pcb` and `cmcguinness__ring` (0.96-0.99 -> 0.99-0.9999); false motion on
    bar stacks lowered it (0.96 -> 0.27)."""
    height, width = alignment.shape
    factor = min(1.0, _MOTION_CHECK_SIDE / max(height, width))
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    into = resize_scaling(size, (width, height))
    back = resize_scaling(size, (width, height), inverse=True)

    def plane(thumbnail: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(_luminance_at(thumbnail, size), (0, 0), 1.0)

    reference = plane(thumbnails[alignment.reference])
    frames = list(alignment.frames)
    for i, frame in enumerate(frames):
        shift = frame.displacement(height, width) * factor
        if i == alignment.reference or shift < 1.0:
            continue
        own = plane(thumbnails[i])
        moved = cv2.warpPerspective(
            own, into @ frame.matrix @ back, size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip
        margin = int(np.ceil(shift)) + 1
        inner = (slice(margin, -margin), slice(margin, -margin))
        if _correlation_of(reference[inner], moved[inner]) < _correlation_of(
            reference[inner], own[inner]
        ):
            _logger.warning(
                "%s: registration found a motion of %.1f px that the coarse view of the "
                "frames contradicts (strong defocus differences); taken as not moved.",
                names[i], frame.displacement(height, width),
            )  # fmt: skip
            frames[i] = dataclasses.replace(frame, matrix=np.eye(3), uncertainty=0.0)
    return dataclasses.replace(alignment, frames=tuple(frames))


def _correlation_of(first: np.ndarray, second: np.ndarray) -> float:
    """Pearson correlation of two planes of one shape; 0 when either is flat."""
    if first.size < 4 or min(float(first.std()), float(second.std())) < 1e-9:
        return 0.0
    return float(np.corrcoef(first.ravel(), second.ravel())[0, 1])


def _unmoved(
    frames: FrameSource, alignment: Alignment, kept: list[int], crop
) -> tuple[FrameSource, Alignment]:
    """A still stack (`Alignment.is_still`), never resampled: the kept frames as they are when
    their gains match, else gain-matched only (`Alignment.without_motion`)."""
    if alignment.gains_matched:
        _logger.info("alignment left the stack unchanged")
        return (SelectedFrames(frames, kept) if len(kept) < len(frames) else frames), alignment
    _logger.info("alignment matched the frames' brightness only")
    gains_only = alignment.without_motion()
    return AlignedFrames(frames, gains_only, kept=kept, crop=crop), gains_only


def still_alignment(frames: FrameSource, reference: int | None = None) -> Alignment | None:
    """`auto`'s cheap check, before any full registration: did nothing move?

    Each frame is registered to its neighbour on one coarse level (`_STILL_CHECK_SIDE` pixels
    across, similarity); the stack is still when no frame's corners moved by
    `_STILL_TOLERANCE` pixels at full size (its gains, measured without motion, may differ).

    Parameters
    ----------
    frames : FrameSource
        N >= 2 frames in focus order (their summaries are made, and kept, when missing).
    reference : int, optional
        Default the middle frame.

    Returns
    -------
    Alignment or None
        The coarse alignment (``is_still`` holds) when the stack is still; None when it
        may have moved, or a pair could not be registered: register fully.
    """
    count, height, width = frames.shape[:3]
    reference = _checked_reference(reference, count)

    def moved(result: tuple | AlignmentError) -> bool:
        """A pair that cannot be registered, or whose step moves a corner by more than two
        frames within the tolerance could (one of its two frames moved): not still, so the
        pairs not yet registered are not."""
        return (
            isinstance(result, AlignmentError)
            or FrameTransform(result[0]).displacement(height, width) > 3 * _STILL_TOLERANCE
        )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        summaries = _summaries(frames, pool)
        found = _register_neighbours(
            list(pool.map(FrameSummary.coarse, summaries)), reference, "similarity", pool,
            give_up=moved,
        )  # fmt: skip
    if found is None:
        return None
    matrices, correlations = {reference: np.eye(3)}, {reference: 1.0}
    for (anchor, k), (step, correlation) in sorted(
        found.items(), key=lambda item: abs(item[0][1] - reference)
    ):  # outwards from the reference, so that every anchor is composed first
        matrices[k], correlations[k] = step @ matrices[anchor], correlation
    thumbnails = np.stack([summary.thumbnail for summary in summaries])
    stride = thumbnail_stride(height, width)
    gains = _gains(thumbnails, [np.eye(3)] * count, reference, stride)
    transforms = tuple(FrameTransform(matrices[k], gains[k], correlations[k]) for k in range(count))
    alignment = Alignment("similarity", reference, (height, width), transforms)
    still = all(t.displacement(height, width) < _STILL_TOLERANCE for t in transforms)
    return alignment if still and alignment.is_still else None


def align_stack(
    stack: Stack,
    *,
    model: str = "auto",
    reference: int | None = None,
    crop: bool = True,
    skip_bad_frames: bool = False,
    alignment: Alignment | None = None,
) -> tuple[Stack, Alignment | None]:
    """`align_frames` on an in-memory stack: the aligned stack (the input itself when
    nothing was done) and its alignment."""
    aligned, found = align_frames(
        ArrayFrames(stack), model=model, reference=reference, crop=crop,
        skip_bad_frames=skip_bad_frames, alignment=alignment,
    )  # fmt: skip
    return aligned.materialise(), found


def _checked_reference(reference: int | None, count: int) -> int:
    """The reference frame's index (default the middle one), checked against ``count``."""
    if reference is None:
        return count // 2
    if not 0 <= reference < count:
        raise OptionError(f"The reference frame must be from 0 to {count - 1}; got {reference}.")
    return reference
