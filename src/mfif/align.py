"""Registration of a focus stack to a reference frame, gain matching and the valid region.

Real stacks breathe (magnification changes with focus) and drift. Each frame is registered to
its neighbour, because frames at opposite ends of a sweep share little sharp detail, and the
neighbour transforms are composed into one transform per frame from the reference frame (the
middle one by default). Registration is OpenCV's ECC (Evangelidis & Psarakis, IEEE TPAMI
30(10), 2008) on a defocus-robust signal, band-passed luminance, coarse to fine; when ECC does
not converge, SIFT features with RANSAC give the start. ECC has no similarity model, so a
similarity is fitted as an affine transform and projected onto the nearest similarity at every
level. Frames are then resampled into the reference frame (bilinear, float32: 16-bit stacks
keep their precision), their brightness is matched to the reference by one gain per channel,
and the region every frame covers is recorded (and by default cropped to).

`auto` registers with the similarity model and, when every frame is within a pixel of the
reference (at the image corners) and every gain within 2 % of 1, passes the stack through
untouched: already registered stacks fuse exactly as before. (Under strong, complementary
defocus the registration reports false motions of up to 0.75 px on stacks rendered without any
motion, so smaller motions cannot be told from none.)

Conventions: a transform is a 3x3 matrix that maps pixel coordinates of the reference frame to
those of the frame, so that ``aligned(x) = frame(T x)`` (OpenCV's ``WARP_INVERSE_MAP``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from .color import sample_luminance
from .errors import MfifError, OptionError
from .frames import FrameSource
from .stack import Stack, to_unit_float

__all__ = [
    "MOTION_MODELS",
    "ALIGN_CHOICES",
    "AlignmentError",
    "FrameTransform",
    "Alignment",
    "estimate_alignment",
    "apply_alignment",
    "align_stack",
]

_logger = logging.getLogger(__name__)

MOTION_MODELS = ("translation", "similarity", "affine", "homography")
ALIGN_CHOICES = ("auto", "none", *MOTION_MODELS)

_ECC_MOTION = {
    "translation": cv2.MOTION_TRANSLATION,
    "similarity": cv2.MOTION_AFFINE,  # projected onto a similarity after each level
    "affine": cv2.MOTION_AFFINE,
    "homography": cv2.MOTION_HOMOGRAPHY,
}
_COARSEST_SIDE = 192  # pixels on the long side of the coarsest registration level
_FINEST_SIDE = 1024  # registration stops at this resolution (finer adds time, not accuracy)
# `auto` leaves a stack alone below these. Registration under strong, complementary defocus
# reports false motions of up to 0.75 px on stacks rendered with no motion at all (Middlebury
# and DAVIS sets of the benchmark), and fusing a sub-pixel motion unaligned costs little.
_IDENTITY_TOLERANCE = 1.0  # pixels, at the image corners
_GAIN_TOLERANCE = 0.02
_MIN_CORRELATION = 0.3  # ECC correlation below this: the frames do not match


class AlignmentError(MfifError):
    """A frame cannot be registered to its neighbour (too little overlap, another scene)."""


@dataclass(frozen=True)
class FrameTransform:
    """How one frame maps onto the reference.

    Attributes
    ----------
    matrix : ndarray of shape (3, 3), float64
        Reference pixel coordinates -> this frame's pixel coordinates.
    gains : tuple of float
        Multiplied into each channel so its brightness matches the reference.
    correlation : float
        ECC correlation with the neighbour it was registered to (1 for the reference).
    """

    matrix: np.ndarray
    gains: tuple[float, ...] = (1.0,)
    correlation: float = 1.0

    def displacement(self, height: int, width: int) -> float:
        """Largest distance, in pixels, by which the transform moves a corner of the image."""
        corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], float)
        moved = corners @ self.matrix.T
        moved = moved[:, :2] / moved[:, 2:3]
        return float(np.abs(moved - corners[:, :2]).max())


@dataclass(frozen=True)
class Alignment:
    """The registration of a stack: one transform per frame, and the region all frames cover.

    Attributes
    ----------
    model : str
        One of `MOTION_MODELS`.
    reference : int
        Index of the reference frame.
    shape : tuple of int
        (H, W) of the frames.
    frames : tuple of FrameTransform
    """

    model: str
    reference: int
    shape: tuple[int, int]
    frames: tuple[FrameTransform, ...] = field(default=())

    @property
    def is_identity(self) -> bool:
        """True when every frame is within a pixel of the reference and every gain within 2 %
        of 1: less than registration under defocus can tell from no motion at all."""
        height, width = self.shape
        return all(
            frame.displacement(height, width) < _IDENTITY_TOLERANCE
            and all(abs(g - 1.0) < _GAIN_TOLERANCE for g in frame.gains)
            for frame in self.frames
        )

    def to_dict(self) -> dict:
        """A JSON-ready description (see `from_dict`)."""
        height, width = self.shape
        return {
            "model": self.model,
            "reference": self.reference,
            "shape": list(self.shape),
            "frames": [
                {
                    "matrix": frame.matrix.round(10).tolist(),
                    "gains": [round(g, 8) for g in frame.gains],
                    "correlation": round(frame.correlation, 6),
                    "displacement_px": round(frame.displacement(height, width), 4),
                }
                for frame in self.frames
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Alignment:
        """Rebuild an alignment written by `to_dict` (e.g. to apply it to a repeated shot)."""
        try:
            frames = tuple(
                FrameTransform(
                    np.asarray(f["matrix"], dtype=np.float64).reshape(3, 3),
                    tuple(float(g) for g in f.get("gains", [1.0])),
                    float(f.get("correlation", 1.0)),
                )
                for f in data["frames"]
            )
            height, width = (int(v) for v in data["shape"])
            alignment = cls(str(data["model"]), int(data["reference"]), (height, width), frames)
        except (KeyError, TypeError, ValueError) as error:
            raise OptionError(
                f"The alignment file does not describe an alignment ({error})."
            ) from None
        if alignment.model not in MOTION_MODELS:
            raise OptionError(f"The alignment file names an unknown model {alignment.model!r}.")
        return alignment

    def save(self, path: str | Path) -> None:
        """Write as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Alignment:
        """Read a JSON file written by `save` or ``mfif fuse --report``."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise OptionError(f"Cannot read the alignment file {path}: {error}.") from None
        return cls.from_dict(data.get("alignment", data))


# --- estimation -----------------------------------------------------------------------------


def estimate_alignment(
    stack: Stack | FrameSource,
    *,
    model: str = "similarity",
    reference: int | None = None,
    skip_bad_frames: bool = False,
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
    frames = stack.images if isinstance(stack, Stack) else stack
    count, height, width = frames.shape[:3]
    names = stack.names
    reference = count // 2 if reference is None else reference
    if not 0 <= reference < count:
        raise OptionError(f"The reference frame must be from 0 to {count - 1}; got {reference}.")
    stride = thumbnail_stride(height, width)
    known = getattr(frames, "summaries", None) or [None] * count

    def summarise(k: int) -> tuple[list, np.ndarray]:
        if known[k] is not None:  # made when the frame was decoded (`frame_summary`)
            return known[k]
        if callable(getattr(frames, "read", None)):
            return frame_summary(frames.read(k))  # frames on disk: read as stored
        return frame_summary(frames[k])  # one frame in memory at a time (per thread)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # OpenCV frees the GIL
        summaries = list(pool.map(summarise, range(count)))
        pyramids = [pyramid for pyramid, _ in summaries]
        thumbnails = np.stack([thumbnail for _, thumbnail in summaries])
        del summaries
        # Neighbour pairs are independent: register them all at once, compose afterwards.
        pairs = [
            (k - 1, k) if k > reference else (k + 1, k) for k in range(count) if k != reference
        ]
        results = pool.map(lambda pair: _try_register(pyramids, *pair, model), pairs)
        found = dict(zip(pairs, results, strict=True))
    matrices: dict[int, np.ndarray] = {reference: np.eye(3)}
    correlations: dict[int, float] = {reference: 1.0}
    dropped: list[int] = []
    for direction in (1, -1):
        anchor = reference  # the last frame registered on this side
        for k in range(reference + direction, count if direction == 1 else -1, direction):
            result = found.get((anchor, k)) or _try_register(pyramids, anchor, k, model)
            if isinstance(result, AlignmentError):
                message = (
                    f"Frame {k} ({names[k]}) cannot be registered to frame {anchor} "
                    f"({names[anchor]}): {result}"
                )
                if not skip_bad_frames:
                    raise AlignmentError(message + " (--skip-bad-frames drops such frames).")
                _logger.warning("%s; dropped.", message)
                dropped.append(k)
                continue
            step, correlation = result
            matrices[k] = step @ matrices[anchor]  # reference -> anchor -> k
            correlations[k] = correlation
            anchor = k
    kept = sorted(matrices)
    if len(kept) < 2:
        raise AlignmentError("Fewer than 2 frames could be registered; nothing to fuse.")
    new_reference = kept.index(reference)
    gains = _gains(thumbnails[kept], [matrices[k] for k in kept], new_reference, stride)
    transforms = tuple(
        FrameTransform(matrices[k], gains[i], correlations[k]) for i, k in enumerate(kept)
    )
    return Alignment(model, new_reference, (height, width), transforms), dropped


def thumbnail_stride(height: int, width: int) -> int:
    """Subsampling of the thumbnails the gains are measured on (they need few pixels)."""
    return max(1, round(max(height, width) / 512))


def frame_summary(frame: np.ndarray) -> tuple[list, np.ndarray]:
    """What registration needs of one frame (H, W, C), float32 in [0, 1] or its samples as
    stored (uint8, uint16): its band-pass pyramid and a thumbnail. A frame source may offer
    them precomputed (``summaries``, as `mfif.streaming.load_frames` makes them while
    decoding)."""
    stride = thumbnail_stride(*frame.shape[:2])
    thumbnail = to_unit_float(np.ascontiguousarray(frame[::stride, ::stride]), "frame")
    return _signal_pyramid(sample_luminance(frame)), thumbnail


def _try_register(
    pyramids: list, anchor: int, k: int, model: str
) -> tuple[np.ndarray, float] | AlignmentError:
    try:
        return _register(pyramids[anchor], pyramids[k], model)
    except AlignmentError as error:
        return error


def _signal_pyramid(plane: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """(scale, band-passed image) from coarse to fine.

    The difference of two Gaussians keeps structure that survives defocus (coarse edges) and
    drops the fine detail only one frame has sharp, and the flat shading where ECC has nothing
    to hold on to.
    """
    height, width = plane.shape
    longest = max(height, width)
    scales = []
    scale = min(1.0, _FINEST_SIDE / longest)
    while True:
        scales.append(scale)
        if longest * scale <= _COARSEST_SIDE * 1.5:
            break
        scale /= 2
    pyramid = []
    for scale in reversed(scales):
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        small = cv2.resize(plane, size, interpolation=cv2.INTER_AREA) if scale < 1 else plane
        low = cv2.GaussianBlur(small, (0, 0), 8.0)
        band = cv2.GaussianBlur(small, (0, 0), 1.0) - low
        pyramid.append((scale, np.ascontiguousarray(band, dtype=np.float32)))
    return pyramid


def _register(
    template: list[tuple[float, np.ndarray]], moving: list[tuple[float, np.ndarray]], model: str
) -> tuple[np.ndarray, float]:
    """3x3 transform from template coordinates to moving-frame coordinates, and the ECC
    correlation at the finest level."""
    warp = np.eye(3, dtype=np.float32)
    correlation = 0.0
    previous_scale = None
    motion = _ECC_MOTION[model]
    for level, ((scale, fixed), (_, image)) in enumerate(zip(template, moving, strict=True)):
        if previous_scale is not None:
            warp = _rescale(warp, scale / previous_scale)
        previous_scale = scale
        iterations = 100 if level == 0 else 50
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5)
        try:
            correlation, found = cv2.findTransformECC(
                fixed, image, _ecc_matrix(warp, motion), motion, criteria, None, 3
            )
        except cv2.error:
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
    if correlation < _MIN_CORRELATION:
        raise AlignmentError(f"they do not match (correlation {correlation:.2f})")
    _check_plausible(warp, template[-1][1].shape, template[-1][0])
    return _rescale(warp, 1.0 / template[-1][0]), float(correlation)


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
        frame, covered = _warp(image, _rescale(matrix, scale), small.shape[1:3])
        warped.append(frame)
        valid &= covered
    if valid.sum() < 16:
        return [tuple(1.0 for _ in range(small.shape[3]))] * len(small)
    means = np.array([frame[valid].mean(axis=0) for frame in warped], dtype=np.float64)
    gains = means[reference] / np.maximum(means, 1e-6)
    return [tuple(float(g) for g in row) for row in gains]


# --- application ------------------------------------------------------------------------------


def _warp(
    image: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (H, W, C) resampled into reference coordinates, and where it is defined."""
    return _resample(image, matrix, shape), _coverage(image.shape[:2], matrix, shape)


def _resample(image: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (H, W, C) resampled into reference coordinates: out(x) = image(matrix x)."""
    height, width = shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    if abs(matrix[2, 0]) < 1e-12 and abs(matrix[2, 1]) < 1e-12:
        affine = (matrix[:2] / matrix[2, 2]).astype(np.float64)
        warped = cv2.warpAffine(image, affine, (width, height), flags=flags)
    else:
        warped = cv2.warpPerspective(image, matrix.astype(np.float64), (width, height), flags=flags)
    return warped.reshape(height, width, image.shape[2])


def _coverage(
    source_shape: tuple[int, int], matrix: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """(H, W) bool: the reference pixels whose whole interpolation footprint lies in a frame
    of ``source_shape``."""
    # 16-bit ones: half the memory traffic of float32 and the same test. The interpolation
    # weights are multiples of 1/1024, and 0.999 * 65535 falls between 1022/1024 and 1023/1024
    # of 65535 as it does for 1.0.
    ones = np.full((*source_shape, 1), 65535, np.uint16)
    return _resample(ones, matrix, shape)[..., 0] >= 65470


def apply_alignment(stack: Stack, alignment: Alignment, *, crop: bool = True) -> Stack:
    """Resample every frame into the reference frame and match its gains.

    Parameters
    ----------
    stack : Stack
        The frames the alignment was estimated on (the kept ones, in order).
    alignment : Alignment
    crop : bool
        Crop to the largest rectangle every frame covers (default). Otherwise keep the
        reference frame's size and fill each frame's uncovered pixels from the nearest frame
        (in focus order) that covers them, never from reflected or extrapolated pixels.

    Returns
    -------
    Stack
        Same bit depth and names; ``valid`` marks the pixels every frame covers.
    """
    if stack.shape != alignment.shape or stack.count != len(alignment.frames):
        raise OptionError(
            f"The alignment is for {len(alignment.frames)} frames of "
            f"{alignment.shape[1]}x{alignment.shape[0]}; the stack has {stack.count} of "
            f"{stack.shape[1]}x{stack.shape[0]}."
        )
    if crop:
        valid = np.ones(stack.shape, bool)
        for frame in alignment.frames:  # the covered region first, from geometry alone
            valid &= _coverage(stack.shape, frame.matrix, stack.shape)
        top, left, height, width = largest_rectangle(valid)
        if height < 8 or width < 8:
            raise AlignmentError("The frames have too little area in common to fuse.")
        # Resample straight into the window: no full-size copies.
        offset = np.array([[1.0, 0.0, left], [0.0, 1.0, top], [0.0, 0.0, 1.0]])
        aligned = np.empty((stack.count, height, width, stack.images.shape[3]), np.float32)
        for k, (image, frame) in enumerate(zip(stack.images, alignment.frames, strict=True)):
            aligned[k] = _resample(image, frame.matrix @ offset, (height, width))
            _apply_gains(aligned[k], frame.gains)
        return replace(stack, images=np.clip(aligned, 0.0, 1.0, out=aligned), valid=None)
    aligned = np.empty_like(stack.images)
    covered = np.empty((stack.count, *stack.shape), bool)
    for k, (image, frame) in enumerate(zip(stack.images, alignment.frames, strict=True)):
        aligned[k], covered[k] = _warp(image, frame.matrix, stack.shape)
        _apply_gains(aligned[k], frame.gains)
    np.clip(aligned, 0.0, 1.0, out=aligned)
    _fill_uncovered(aligned, covered)
    return replace(stack, images=aligned, valid=covered.all(axis=0))


def _apply_gains(image: np.ndarray, gains: Sequence[float]) -> None:
    """Multiply (H, W, C) ``image`` in place by one gain per channel (or their mean)."""
    factors = np.asarray(gains, np.float32)
    if not np.any(factors != 1):
        return
    if factors.size != image.shape[2]:
        image *= factors.mean()
    elif image.shape[2] <= 4 and image.flags.c_contiguous:
        # OpenCV scales all channels in one pass (NumPy broadcasting over a length-3 axis
        # is slow); the float32 products are the same.
        scalar = tuple(float(f) for f in factors) + (0.0,) * (4 - factors.size)
        cv2.multiply(image, scalar, dst=image)
    else:
        image *= factors


def _fill_uncovered(aligned: np.ndarray, covered: np.ndarray) -> None:
    """Each frame's uncovered pixels from the nearest frame in focus order that covers them."""
    count = len(aligned)
    for k in range(count):
        missing = ~covered[k]
        for distance in range(1, count):
            if not missing.any():
                break
            for other in (k - distance, k + distance):
                if 0 <= other < count:
                    take = missing & covered[other]
                    aligned[k][take] = aligned[other][take]
                    missing &= ~take
        aligned[k][missing] = 0.0  # covered by no frame at all


def largest_rectangle(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the largest axis-aligned rectangle inside a convex
    region (every row's ``True`` pixels form one run, as the overlap of warped frames does)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return 0, 0, 0, 0
    first = np.where(mask[rows].any(axis=1), mask[rows].argmax(axis=1), 0)
    last = mask.shape[1] - np.argmax(mask[rows][:, ::-1], axis=1)  # one past the run
    best = (0, 0, 0, 0)
    best_area = 0
    for i in range(rows.size):
        lefts = np.maximum.accumulate(first[i:])
        rights = np.minimum.accumulate(last[i:])
        widths = np.maximum(rights - lefts, 0)
        heights = np.arange(1, widths.size + 1)
        areas = widths * heights
        j = int(areas.argmax())
        if areas[j] > best_area:
            best_area = int(areas[j])
            best = (int(rows[i]), int(lefts[j]), int(heights[j]), int(widths[j]))
    return best


def align_stack(
    stack: Stack,
    *,
    model: str = "auto",
    reference: int | None = None,
    crop: bool = True,
    skip_bad_frames: bool = False,
    alignment: Alignment | None = None,
) -> tuple[Stack, Alignment | None]:
    """Register, resample and gain-match a stack (the pipeline's alignment stage).

    Parameters
    ----------
    stack : Stack
    model : {"auto", "none", "translation", "similarity", "affine", "homography"}
        "auto" (default) registers with the similarity model and passes an already registered
        stack through untouched; "none" skips alignment.
    reference : int, optional
        Reference frame; default the middle one.
    crop : bool
        See `apply_alignment`.
    skip_bad_frames : bool
        See `estimate_alignment`.
    alignment : Alignment, optional
        A saved alignment to apply instead of estimating one.

    Returns
    -------
    stack : Stack
        The aligned stack (the input itself when nothing was done).
    alignment : Alignment or None
        What was estimated or applied; None for "none".
    """
    if model not in ALIGN_CHOICES:
        raise OptionError(f"--align must be one of {', '.join(ALIGN_CHOICES)}; got {model!r}.")
    if alignment is not None:
        return apply_alignment(stack, alignment, crop=crop), alignment
    if model == "none":
        return stack, None
    estimated, dropped = estimate_alignment(
        stack,
        model="similarity" if model == "auto" else model,
        reference=reference,
        skip_bad_frames=skip_bad_frames,
    )
    if dropped:
        keep = [k for k in range(stack.count) if k not in dropped]
        stack = replace(stack, images=stack.images[keep], names=tuple(stack.names[k] for k in keep))
    if model == "auto" and estimated.is_identity:
        _logger.info("the stack is already registered; alignment left it unchanged")
        return stack, estimated
    return apply_alignment(stack, estimated, crop=crop), estimated
