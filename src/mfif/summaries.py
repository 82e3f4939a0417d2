"""What registration reads of each frame: its summary (`frame_summary`: luminance at the finest
registration scale and a thumbnail for the gains), made while the frame is decoded, and the
band-passed pyramids made from it when registration asks (`FrameSummary.levels`, kept for a few
frames at a time by `LevelsOf`). `mfif.align` registers on them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from typing import NamedTuple

import cv2
import numpy as np

from .color import sample_luminance
from .stack import to_unit_float

__all__ = ["FrameSummary", "Levels", "frame_summary", "summary_reduction", "thumbnail_stride"]

_COARSEST_SIDE = 192  # pixels on the long side of the coarsest registration level
_FINEST_SIDE = 1024  # registration stops at this resolution (finer adds time, not accuracy)
_BAND = (1.0, 8.0)  # Gaussians whose difference ECC registers on (pixels of each level)
# The similarity refinement's finer, narrower band at the finest level: finer structure pins the
# motion down better (refined on _BAND, corner error 0.17 px on the misaligned set; on this
# band 0.14 px); ECC's affine and homography fits lose precision on it, so they keep _BAND.
_FINE_BAND = (0.7, 4.0)
_STILL_CHECK_SIDE = 256  # pixels across the one level of `auto`'s cheap check


def thumbnail_stride(height: int, width: int) -> int:
    """Subsampling of the thumbnails the gains are measured on (they need few pixels)."""
    return max(1, round(max(height, width) / 512))


class Levels(NamedTuple):
    """The band-passed images registration works on (`_signal_pyramid`); scales are relative
    to the full frame."""

    pyramid: list  # (scale, band-passed luminance) from coarse to fine, for ECC
    check: tuple[float, np.ndarray]  # (scale, lower band): `estimate_alignment`'s uncertainty
    fine: np.ndarray  # the finest level on a finer band, for `refine_similarity`


class FrameSummary:
    """What registration needs of one frame (`frame_summary`): its luminance at the finest
    registration scale and a thumbnail, made while the frame is decoded; the band-passed
    levels are made from them when registration asks (a stack that `auto` finds still never
    does), and registration keeps only a few frames' levels at a time (`LevelsOf`).

    Attributes
    ----------
    plane : ndarray (h, w) float32
        Luminance resampled by ``scale`` (at most `_FINEST_SIDE` on the long side).
    scale : float
        ``plane``'s size relative to the frame's.
    thumbnail : ndarray (h', w', C) float32
        The frame subsampled by `thumbnail_stride`, for the gains (kept as the frame's
        samples, a quarter of the memory for 8-bit frames, and converted when read).
    """

    def __init__(self, plane: np.ndarray, scale: float, thumbnail: np.ndarray) -> None:
        self.plane, self.scale, self._thumbnail = plane, scale, thumbnail

    @property
    def thumbnail(self) -> np.ndarray:
        return to_unit_float(self._thumbnail, "frame")

    @property
    def levels(self) -> Levels:
        """The full pyramid, made anew at each call (6-7 MB for a 24 MP frame)."""
        return _signal_pyramid(self.plane, self.scale)

    def coarse(self) -> Levels:
        """One level of at most `_STILL_CHECK_SIDE` pixels on the long side, for the cheap
        check of whether anything moved (not kept)."""
        height, width = self.plane.shape
        factor = min(1.0, _STILL_CHECK_SIDE / max(height, width))
        size = (max(8, round(width * factor)), max(8, round(height * factor)))
        small = cv2.resize(self.plane, size, interpolation=cv2.INTER_AREA)
        return _signal_pyramid(small, self.scale * size[0] / width)


def frame_summary(frame: np.ndarray, size: tuple[int, int] | None = None) -> FrameSummary:
    """What registration needs of one frame (H, W, C), float32 in [0, 1] or its samples as
    stored (uint8, uint16). A frame source may offer them precomputed (``summaries``, as
    `mfif.io.load_frames` makes them while decoding).

    ``size``: the frame's (H, W) when ``frame`` is the frame decoded smaller by the factor
    `summary_reduction` gives (a JPEG file's DCT scaling: each sample the mean of a block), so
    that a frame that is not kept is never decoded whole for its summary."""
    height, width = size if size is not None else frame.shape[:2]
    reduction = 1
    if (height, width) != frame.shape[:2]:
        reduction = summary_reduction(height, width)
        expected = (-(-height // reduction), -(-width // reduction))
        if reduction == 1 or frame.shape[:2] != expected:
            raise ValueError(f"a frame of {width}x{height} decoded as {frame.shape[:2]}")
    # A thumbnail's sample lies on every stride-th pixel: every (stride / reduction)-th here.
    step = thumbnail_stride(height, width) // reduction
    thumbnail = np.ascontiguousarray(frame[::step, ::step])
    plane = sample_luminance(frame)
    scale = min(1.0, _FINEST_SIDE / max(height, width))
    if scale < 1:
        target = (max(8, round(width * scale)), max(8, round(height * scale)))
        if target != (plane.shape[1], plane.shape[0]):
            plane = cv2.resize(plane, target, interpolation=cv2.INTER_AREA)
    return FrameSummary(np.ascontiguousarray(plane, dtype=np.float32), scale, thumbnail)


def summary_reduction(height: int, width: int) -> int:
    """The factor (8, 4 or 2) by which a frame of (height, width) may be decoded smaller for its
    `frame_summary` (JPEG's DCT scaling): the plane it gives is still larger than registration's
    finest level (`_FINEST_SIDE`), and the thumbnail's stride a multiple of it; 1 when none is.
    A 24 MP frame's summary costs 0.04 s that way, against 0.15 s decoded whole."""
    stride = thumbnail_stride(height, width)
    for factor in (8, 4, 2):
        if max(height, width) >= factor * _FINEST_SIDE and stride % factor == 0:
            return factor
    return 1


def _signal_pyramid(plane: np.ndarray, plane_scale: float = 1.0) -> Levels:
    """(scale, band-passed image) from coarse to fine, (scale, image) on a lower band, and the
    finest level on a finer band (`_FINE_BAND`), of a luminance ``plane`` that is the frame
    resampled by ``plane_scale`` (scales are relative to the frame).

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
    # A lower band for the uncertainty check, at half the finest scale (a quarter of the cost;
    # the same band as 3 and 16 pixels at the finest): the pyramid's level there when it has
    # one (the same resize and wide Gaussian).
    check_size = (max(8, round(width * scales[0] / 2)), max(8, round(height * scales[0] / 2)))
    half = None
    pyramid = []
    for scale in reversed(scales):
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        small = cv2.resize(plane, size, interpolation=cv2.INTER_AREA) if scale < 1 else plane
        wide = cv2.GaussianBlur(small, (0, 0), _BAND[1])
        if size == check_size:
            half, half_wide = small, wide
        band = cv2.GaussianBlur(small, (0, 0), _BAND[0]) - wide
        pyramid.append((scale * plane_scale, np.ascontiguousarray(band, dtype=np.float32)))
    fine = cv2.GaussianBlur(small, (0, 0), _FINE_BAND[0]) - cv2.GaussianBlur(
        small, (0, 0), _FINE_BAND[1]
    )
    if half is None:
        half = cv2.resize(plane, check_size, interpolation=cv2.INTER_AREA)
        half_wide = cv2.GaussianBlur(half, (0, 0), _BAND[1])
    check = cv2.GaussianBlur(half, (0, 0), 1.5) - half_wide
    return Levels(
        pyramid,
        (plane_scale * check_size[0] / width, np.ascontiguousarray(check, dtype=np.float32)),
        np.ascontiguousarray(fine, dtype=np.float32),
    )


class LevelsOf:
    """Each frame's `FrameSummary.levels`, made when first asked for and kept for the last
    ``kept`` frames asked: registration goes along the stack, so a long stack's pyramids are
    not all held at once (a frame asked for again after it was dropped is made again, with
    the same values). Safe across threads."""

    def __init__(self, summaries: Sequence[FrameSummary], kept: int) -> None:
        self._summaries = summaries
        self._kept = max(2, kept)
        self._made: OrderedDict[int, Levels] = OrderedDict()
        self._making: dict[int, Future] = {}  # a frame two pairs ask for at once is made once
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._summaries)

    def __getitem__(self, index: int) -> Levels:
        with self._lock:
            if index in self._made:
                self._made.move_to_end(index)
                return self._made[index]
            making = self._making.get(index)
            if making is None:
                making = self._making[index] = Future()
                mine = True
            else:
                mine = False
        if not mine:
            return making.result()
        try:
            levels = self._summaries[index].levels
        except BaseException as error:
            with self._lock:
                del self._making[index]
            making.set_exception(error)
            raise
        with self._lock:
            del self._making[index]
            self._made[index] = levels
            while len(self._made) > self._kept:
                self._made.popitem(last=False)
        making.set_result(levels)
        return levels
