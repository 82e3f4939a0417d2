"""The one interface every method shares: `Fuser.fuse(stack) -> Fusion`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .color import luminance
from .concurrency import default_threads
from .options import Option
from .stack import Stack

__all__ = ["Fusion", "Fuser", "WeightedFuser", "StreamingWeightedFuser", "WeightsCallback", "blend"]

# on_weights(k, weight): source k's weight map (H, W) float32, as a streamed fusion makes it.
WeightsCallback = Callable[[int, np.ndarray], None]


@dataclass(frozen=True)
class Fusion:
    """The result of fusing a stack.

    Attributes
    ----------
    image : ndarray of shape (s·H, s·W, C), float32 in [0, 1]
        The all-in-focus image; C as in the stack. s = 1 (the stack's size) except for
        methods that also super-resolve (``dfp`` with ``scale=s``).
    weights : ndarray of shape (N, s·H, s·W), float32 in [0, 1], or None
        Per-source weights summing to 1 at every pixel, at the size of ``image``, for methods
        that produce them.
    """

    image: np.ndarray
    weights: np.ndarray | None = None

    @property
    def depth(self) -> np.ndarray | None:
        """Index of the winning source per pixel, ndarray of shape (s·H, s·W), int; None without
        weights."""
        if self.weights is None:
            return None
        from .decision import winning_source

        return winning_source(self.weights)


class Fuser(ABC):
    """A fusion method. Subclasses set ``name`` and ``summary`` and implement `fuse`.

    Options are keyword arguments of the constructor; `fuse` never changes them.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    produces_weights: ClassVar[bool] = False  # True when `Fusion.weights` is filled
    external: ClassVar[bool] = False  # True when it runs another program
    # True when fusing from disk may read the next frame on a thread while this one is used
    # (`mfif.streaming.ReadAhead`, one frame more in memory): methods with a few planes per
    # frame; pyramid methods hold too much per frame already.
    read_ahead: ClassVar[bool] = False
    parameter_count: ClassVar[int | None] = 0  # learned parameters; None if unknown
    # Constructor keyword -> type and range; `mfif.create` checks every option against it.
    options: ClassVar[dict[str, Option]] = {}

    @abstractmethod
    def fuse(self, stack: Stack) -> Fusion:
        """Fuse ``stack`` (N >= 2 images, grey or RGB) into one image, of the stack's size
        unless the method super-resolves (see `Fusion`)."""

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({options})"


class WeightedFuser(Fuser):
    """A method whose result is a per-pixel weighted sum of the sources (a decision map).

    Subclasses implement `weights` on the luminance stack; colour is carried by the same weights.
    """

    produces_weights = True

    @abstractmethod
    def weights(self, luma: np.ndarray) -> np.ndarray:
        """Weights (N, H, W) summing to 1 from the luminance stack (N, H, W) in [0, 1]."""

    def fuse(self, stack: Stack) -> Fusion:
        weights = self.weights(luminance(stack.images))
        return Fusion(image=blend(stack.images, weights), weights=weights)


class StreamingWeightedFuser(WeightedFuser):
    """A weighted method that can also fuse frames read one at a time (`fuse_frames`), so
    memory does not grow with the number of frames. Subclasses implement `stream_weights`;
    `weights` and `fuse` follow from it and give the same result as `fuse_frames`."""

    @abstractmethod
    def stream_weights(
        self,
        luma_of: Callable[[int], np.ndarray],
        count: int,
        shape: tuple[int, int],
        *,
        threads: int = 1,
    ) -> Iterator[np.ndarray]:
        """Each source's weight map (H, W) in turn, from ``luma_of(k)``, the luminance (H, W)
        float32 of source k (each call may read the frame again: call it as few times as
        the method allows). With ``threads`` > 1, ``luma_of`` may be called from that many
        threads at once; the result must not depend on it."""

    # True when the method reads every source's luminance before it needs any frame (its
    # weights depend on all of them): a source with a luminance read of its own
    # (`mfif.streaming.AlignedFrames.luminance`) then serves it, on several threads.
    luminance_first: ClassVar[bool] = False
    read_ahead = True  # a few planes per frame

    def weights(self, luma: np.ndarray) -> np.ndarray:
        count, height, width = luma.shape
        maps = self.stream_weights(
            lambda k: luma[k], count, (height, width), threads=default_threads()
        )
        return np.stack(list(maps))

    def fuse_frames(
        self,
        frames: Sequence[np.ndarray],
        *,
        keep_weights: bool = True,
        on_weights: WeightsCallback | None = None,
    ) -> Fusion:
        """Fuse frames read one at a time: memory does not grow with their number.

        Parameters
        ----------
        frames : sequence of ndarray of shape (H, W, C), float32 in [0, 1]
            Anything with ``len`` and indexing (and, optionally, a numpy-like ``shape`` (N, H,
            W, C)), such as a `mfif.frames.FrameStore`. The method's `stream_weights` says how
            often it reads each frame; the blend reuses the frame its weight came from.
        keep_weights : bool
            Keep the N full-resolution weight maps in `Fusion.weights` (N x H x W x 4 bytes);
            False keeps none.
        on_weights : callable, optional
            Called as ``on_weights(k, weight)`` with each source's weight map (H, W) in turn,
            to write or reduce it without holding them all.

        Returns
        -------
        Fusion
            The same result as fusing the whole stack in memory, within rounding.
        """
        count = len(frames)
        # An array-like with a shape spares a read of the first frame.
        shape = frames.shape[1:] if hasattr(frames, "shape") else frames[0].shape
        height, width, channels = shape
        last: dict[int, np.ndarray] = {}

        def frame(k: int) -> np.ndarray:  # the last frame read is kept for the blend
            if k not in last:
                last.clear()
                last[k] = frames[k]
            return last[k]

        fused = np.zeros((height, width, channels), dtype=np.float32)
        kept = np.empty((count, height, width), dtype=np.float32) if keep_weights else None
        region_of = getattr(frames, "region", None)
        if self.luminance_first and callable(getattr(frames, "luminance", None)):
            # One plane read per source, several at once; frames are read for the blend only.
            maps = self.stream_weights(
                frames.luminance, count, (height, width), threads=default_threads()
            )
        else:
            maps = self.stream_weights(lambda k: luminance(frame(k)), count, (height, width))
        for k, weight in enumerate(maps):
            if kept is not None:
                kept[k] = weight
            if on_weights is not None:
                on_weights(k, weight)
            box = _weighted_box(weight)
            if box is not None:  # most frames of a long stack win nowhere, or little
                if callable(region_of) and k not in last:
                    part = region_of(k, *box)  # read only what the blend needs
                else:
                    part = frame(k)[box]
                _accumulate(fused[box], part, weight[box])
        return Fusion(image=np.clip(fused, 0.0, 1.0, out=fused), weights=kept)


_BLEND_ROWS = 512  # rows blended at a time
_BLEND_EPSILON = 1e-5  # OpenCV's blendLinear adds it to the sum of the weights


def blend(images: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted sum of the sources.

    Parameters
    ----------
    images : ndarray of shape (N, H, W, C), float32 in [0, 1]
    weights : ndarray of shape (N, H, W), float32, summing to 1 per pixel

    Returns
    -------
    ndarray of shape (H, W, C), float32 in [0, 1]
    """
    if len(images) == 2 and images.shape[-1] in (1, 3):
        import cv2  # one multi-threaded pass instead of four numpy passes

        fused = cv2.blendLinear(images[0], images[1], weights[0], weights[1])
        fused = fused.reshape(images.shape[1:])
        # blendLinear divides by w1 + w2 + 1e-5; the weights sum to 1, so undo the 1e-5
        # (else a 16-bit white comes out one level darker).
        fused *= np.float32(1.0 + _BLEND_EPSILON)
        return np.clip(fused, 0.0, 1.0, out=fused)
    fused = np.zeros(images.shape[1:], np.float32)
    for image, weight in zip(images, weights, strict=True):
        box = _weighted_box(weight)
        if box is not None:
            _accumulate(fused[box], image[box], weight[box])
    return np.clip(fused, 0.0, 1.0, out=fused)


def _weighted_box(weight: np.ndarray) -> tuple[slice, slice] | None:
    """(rows, columns) of the smallest box holding every non-zero of ``weight`` (H, W); None
    when it is zero."""
    import cv2

    if weight.dtype != np.float32 or not weight.flags.c_contiguous:
        weight = np.ascontiguousarray(weight, np.float32)
    magnitude = np.abs(weight)
    rows = np.flatnonzero(cv2.reduce(magnitude, 1, cv2.REDUCE_MAX)[:, 0])
    if rows.size == 0:
        return None
    band = magnitude[rows[0] : rows[-1] + 1]
    columns = np.flatnonzero(cv2.reduce(band, 0, cv2.REDUCE_MAX)[0])
    return (
        slice(int(rows[0]), int(rows[-1]) + 1),
        slice(int(columns[0]), int(columns[-1]) + 1),
    )


def _accumulate(fused: np.ndarray, image: np.ndarray, weight: np.ndarray) -> None:
    """``fused += image * weight[..., None]`` (views of one box): OpenCV's per-element
    products, the same float32 values as NumPy's, in multi-threaded passes over blocks of
    rows (small temporaries)."""
    import cv2

    if image.shape[-1] != 3:
        fused += image * weight[..., None]
        return
    for start in range(0, image.shape[0], _BLEND_ROWS):
        block = slice(start, start + _BLEND_ROWS)
        gain = cv2.cvtColor(np.ascontiguousarray(weight[block]), cv2.COLOR_GRAY2RGB)
        fused[block] += cv2.multiply(np.ascontiguousarray(image[block]), gain, dst=gain)
