"""The one interface every method shares: `Fuser.fuse_frames(frames) -> Fusion`, and
`Fuser.fuse(stack)` on a stack in memory."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar, final

import numpy as np

from .color import luminance
from .concurrency import default_threads, ordered_map
from .frames import ArrayFrames, FrameSource, SourceLuminance
from .options import Option
from .stack import Stack

__all__ = [
    "Fusion",
    "Fuser",
    "WholeStackFuser",
    "WeightedFuser",
    "WeightsCallback",
    "blend",
    "blend_frames",
]

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
    """A fusion method. Subclasses set ``name`` and ``summary`` and implement `fuse_frames`.

    Options are keyword arguments of the constructor; fusing never changes them.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    produces_weights: ClassVar[bool] = False  # True when `Fusion.weights` is filled
    external: ClassVar[bool] = False  # True when it runs another program
    # True when the method reads every frame into memory at once (networks, DFP, enfuse): the
    # pipeline then keeps the stack in memory; otherwise memory does not grow with the number
    # of frames and a large stack is fused from a scratch file.
    needs_all_frames: ClassVar[bool] = False
    # True when fusing from disk may read the next frame on a thread while this one is used
    # (`mfif.frames.ReadAhead`, one frame more in memory): methods with a few planes per
    # frame; pyramid methods hold too much per frame already.
    read_ahead: ClassVar[bool] = False
    # True when fusing from disk reads every frame many times (a region per block): a JPEG
    # stack is then copied to a scratch file instead of being decoded again at every read.
    rereads_frames: ClassVar[bool] = False
    parameter_count: ClassVar[int | None] = 0  # learned parameters; None if unknown
    # The manifest name (``architecture.tag``) of a network method's shipped weights.
    pretrained: ClassVar[str | None] = None
    slow: ClassVar[bool] = False  # fits a network to every stack (minutes per image on CPU)
    # True when the method returns its fusion larger than the frames by itself (dfp: its
    # options ``scale`` and ``degradation``); any other is enlarged after it (`mfif.upscaling`).
    super_resolves: ClassVar[bool] = False
    # Constructor keyword -> type and range; `mfif.create` checks every option against it.
    options: ClassVar[dict[str, Option]] = {}

    @abstractmethod
    def fuse_frames(
        self,
        frames: FrameSource,
        *,
        keep_weights: bool = True,
        on_weights: WeightsCallback | None = None,
    ) -> Fusion:
        """Fuse N >= 2 frames (grey or RGB) into one image, of their size unless the method
        super-resolves (see `Fusion`).

        Parameters
        ----------
        frames : FrameSource
            In memory, in a scratch file, aligned as read: methods read them one at a time
            (unless ``needs_all_frames``), so memory does not grow with their number.
        keep_weights : bool
            Keep the N weight maps in `Fusion.weights` (N x H x W x 4 bytes); False keeps none.
        on_weights : callable, optional
            Called as ``on_weights(k, weight)`` with each source's weight map (H, W) float32
            in turn, for methods that produce weights: to write or reduce them without holding
            them all.
        """

    @final
    def fuse(self, stack: Stack) -> Fusion:
        """`fuse_frames` of an in-memory stack."""
        return self.fuse_frames(ArrayFrames(stack))

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({options})"


class WholeStackFuser(Fuser):
    """A method that needs every frame at once (networks, DFP, enfuse): subclasses implement
    `fuse_stack` on the stack in memory."""

    needs_all_frames = True

    @abstractmethod
    def fuse_stack(self, stack: Stack) -> Fusion:
        """Fuse ``stack`` (N >= 2 images, grey or RGB), held in memory."""

    def fuse_frames(
        self,
        frames: FrameSource,
        *,
        keep_weights: bool = True,
        on_weights: WeightsCallback | None = None,
    ) -> Fusion:
        fusion = self.fuse_stack(frames.materialise())
        if fusion.weights is None:
            return fusion
        if on_weights is not None:
            for k, weight in enumerate(fusion.weights):
                on_weights(k, weight)
        return fusion if keep_weights else Fusion(image=fusion.image)


class WeightedFuser(Fuser):
    """A method whose result is a per-pixel weighted sum of the sources (a decision map) made
    from their luminance; colour is carried by the same weights.

    Subclasses implement `stream_weights` (each source's map in turn, reading the frames one at
    a time) or, when the map needs every source at once, `weights` (and set
    ``needs_all_frames``); each has a default built on the other.
    """

    produces_weights = True
    read_ahead = True  # a few planes per frame
    # True when the method reads every source's luminance before it needs any frame (its
    # weights depend on all of them): a source's own luminance read
    # (`mfif.warp.AlignedFrames.luminance`) then serves it, on several threads.
    luminance_first: ClassVar[bool] = False

    def stream_weights(
        self,
        luma_of: SourceLuminance,
        count: int,
        shape: tuple[int, int],
        *,
        threads: int = 1,
    ) -> Iterator[np.ndarray]:
        """Each source's weight map (H, W) in turn, from ``luma_of(k)``, the luminance (H, W)
        float32 of source k (each call may read the frame again: call it as few times as
        the method allows), or from maps ``luma_of.measured`` makes in each source's own
        coordinates. With ``threads`` > 1, ``luma_of`` may be called from that many threads
        at once; the result must not depend on it."""
        yield from self.weights(np.stack([luma_of(k) for k in range(count)]))

    def weights(self, luma: np.ndarray) -> np.ndarray:
        """Weights (N, H, W) summing to 1 from the luminance stack (N, H, W) in [0, 1]."""
        count, height, width = luma.shape
        planes = SourceLuminance(ArrayFrames(luma[..., None]), read=luma.__getitem__)
        maps = self.stream_weights(planes, count, (height, width), threads=default_threads())
        return np.stack(list(maps))

    def fuse_frames(
        self,
        frames: FrameSource,
        *,
        keep_weights: bool = True,
        on_weights: WeightsCallback | None = None,
    ) -> Fusion:
        """`Fuser.fuse_frames`: the weights of `stream_weights`, then the blend, which reuses
        the frame the last weight came from and reads only the box where a weight is not
        zero."""
        count, height, width, channels = frames.shape
        last: dict[int, np.ndarray] = {}

        def frame(k: int) -> np.ndarray:  # the last frame read is kept for the blend
            if k not in last:
                last.clear()
                last[k] = frames[k]
            return last[k]

        if self.luminance_first or frames.array is not None:
            # One plane read per source, several at once; frames are read for the blend only.
            maps = self.stream_weights(
                SourceLuminance(frames), count, (height, width), threads=default_threads()
            )
        else:
            luma_of = SourceLuminance(frames, read=lambda k: luminance(frame(k)))
            maps = self.stream_weights(luma_of, count, (height, width))
        return blend_frames(
            frames, maps, keep_weights=keep_weights, on_weights=on_weights, last=last
        )


def blend_frames(
    frames: FrameSource,
    maps: Iterable[np.ndarray],
    *,
    keep_weights: bool = True,
    on_weights: WeightsCallback | None = None,
    last: dict[int, np.ndarray] | None = None,
) -> Fusion:
    """The sum of ``frames`` weighted by ``maps``, one weight map (H, W) per frame in order:
    in one pass when the frames are in memory, else each frame read in turn, only in the
    box where its weight is not zero.

    Parameters
    ----------
    frames : FrameSource
        N frames (H, W, C), float32 in [0, 1].
    maps : iterable of N ndarrays of shape (H, W), float32, summing to 1 per pixel
    keep_weights, on_weights
        As `Fuser.fuse_frames`.
    last : dict, optional
        ``{k: frame k}`` already read (reused instead of read again).

    Returns
    -------
    Fusion
        ``image`` (H, W, C) float32 in [0, 1]; ``weights`` (N, H, W) with ``keep_weights``.
    """
    count, height, width, channels = frames.shape
    last = last if last is not None else {}
    if frames.array is not None:  # in memory: one pass over all sources
        weights = np.stack(list(maps))
        for k, weight in enumerate(weights if on_weights is not None else ()):
            on_weights(k, weight)
        fused = blend(frames.array, weights)
        return Fusion(image=fused, weights=weights if keep_weights else None)
    fused = np.zeros((height, width, channels), dtype=np.float32)
    kept = np.empty((count, height, width), dtype=np.float32) if keep_weights else None
    for k, weight in enumerate(maps):
        if k + 1 < count:
            frames.prefetch(k + 1)  # most frames win somewhere: read on while this one blends
        if kept is not None:
            kept[k] = weight
        if on_weights is not None:
            on_weights(k, weight)
        box = _weighted_box(weight)
        if box is None:  # most frames of a long stack win nowhere, or little
            continue
        if k in last:
            _accumulate(fused[box], last[k][box], weight[box])
        else:
            _accumulate_read(fused, frames, k, box, weight)
    return Fusion(image=np.clip(fused, 0.0, 1.0, out=fused), weights=kept)


_READ_BYTES = 16 * 2**20  # float32 bytes of a band of rows read for the blend
_BAND_ROWS = 64  # the fewest rows of a band, when a frame is split into bands for the cores


def _accumulate_read(
    fused: np.ndarray, frames: FrameSource, k: int, box: tuple[slice, slice], weight: np.ndarray
) -> None:
    """`_accumulate` of frame ``k``'s ``box``, read a band of rows at a time, and of each band
    only the runs of columns where the weight is not zero (`_weighted_runs`): a frame wins a
    fifth of the picture on average in a 7-frame stack, and an aligned frame's regions are
    resampled as they are read (pcb: 19 % of the frames' pixels weighted, 100 % read and
    resampled before). A frame-sized float32 read is fresh memory for every source (0.3 s
    per 24 MP frame on these virtual machines), bands of at most 16 MB are reused by the
    allocator. The bands are read and summed on the cores at once (at least 4 bands a
    thread; pcb's whole run 1.41 -> 1.32 s: the conversions, gains and sums are NumPy's, on
    one core each). Regions are the same samples as the whole frame (`FrameSource.region`)
    within float32 rounding of the sample positions, so the sum is too. A source whose
    region reads the whole frame (``reads_regions_alone`` false) is read once, for the whole
    box.

    (Reading every 64 x 64 tile where the weight is not zero was measured when aligned frames
    were resampled bilinearly: neutral on 3 MP stacks, 6-8 % slower on 24 MP x 30 from disk,
    where each frame's weight is spread thin: the fixed cost of thousands of small
    resamplings. Runs of columns separated by `_RUN_GAP` or more keep the reads few.)"""
    rows, columns = box
    threads = default_threads()
    step = max(1, _READ_BYTES // ((columns.stop - columns.start) * frames.shape[3] * 4))
    step = min(step, max(_BAND_ROWS, -(-(rows.stop - rows.start) // (4 * threads))))
    if not frames.reads_regions_alone:
        _accumulate(fused[box], frames.region(k, rows, columns), weight[box])
        return
    bands = [
        slice(start, min(start + step, rows.stop)) for start in range(rows.start, rows.stop, step)
    ]

    def add(band: slice) -> None:
        for part_rows, part_columns in _weighted_runs(weight, band, columns):
            _accumulate(
                fused[part_rows, part_columns],
                frames.region(k, part_rows, part_columns),
                weight[part_rows, part_columns],
            )

    # The first band on this thread (a frame decoded at its first read is decoded once), the
    # others on the cores: the bands are rows of their own in ``fused``.
    add(bands[0])
    for _ in ordered_map(add, bands[1:], threads):
        pass


_RUN_GAP = 64  # columns of zero weight that split a band's read in two


def _weighted_runs(weight: np.ndarray, rows: slice, columns: slice) -> list[tuple[slice, slice]]:
    """The boxes (rows, columns) within ``weight[rows, columns]`` (H, W) that hold its
    non-zeros: one per run of columns with a non-zero, runs closer than `_RUN_GAP` joined,
    each trimmed to its rows with a non-zero. Empty when the band's weight is zero."""
    used = weight[rows, columns].any(axis=0)
    found = np.flatnonzero(used)
    if found.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(found) > _RUN_GAP)
    starts = np.concatenate([found[:1], found[breaks + 1]])
    stops = np.concatenate([found[breaks], found[-1:]]) + 1
    boxes = []
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        part = slice(columns.start + start, columns.start + stop)
        used_rows = np.flatnonzero(weight[rows, part].any(axis=1))
        boxes.append(
            (slice(rows.start + int(used_rows[0]), rows.start + int(used_rows[-1]) + 1), part)
        )
    return boxes


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
    rows = np.flatnonzero(weight.any(axis=1))  # no temporary: 5x faster than |w| and maxima
    if rows.size == 0:
        return None
    columns = np.flatnonzero(weight[rows[0] : rows[-1] + 1].any(axis=0))
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
