"""The one pipeline: load -> align -> fuse (-> save), shared by `mfif.fuse`, ``mfif fuse`` and
``mfif bench``.

Each stage is a method of `Pipeline` that can be called on its own, skipped (``align="none"``)
or given its result from elsewhere (``alignment=`` applies a saved alignment), in the manner of
focus-stack's stage objects. Saving is the caller's: the CLI writes every output together
(`mfif.outputs.OutputSet`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .align import ALIGN_CHOICES, Alignment, align_stack
from .errors import OptionError, StackError
from .frames import FrameStore
from .fusion import Fuser, Fusion, WeightsCallback
from .io import load_stack
from .methods import DEFAULT_METHOD, create
from .stack import Stack

__all__ = ["Pipeline", "PipelineResult", "as_stack", "streams", "stream_fuse", "stream_threshold"]

_logger = logging.getLogger(__name__)

ImagesOrPaths = Stack | Sequence[np.ndarray] | Sequence[str | os.PathLike] | str | os.PathLike
_MIN_SIDE_TO_ALIGN = 32  # pixels; smaller images have too little structure to register


@dataclass(frozen=True)
class PipelineResult:
    """What a pipeline run produced.

    Attributes
    ----------
    fusion : Fusion
        The fused image (in the reference frame's coordinates, cropped unless asked not to).
    stack : Stack
        The stack that was fused: aligned, gain-matched and cropped.
    alignment : Alignment or None
        The alignment estimated or applied; None when alignment was skipped.
    seconds : dict of str to float
        Time of each stage ("load", "align", "fuse").
    """

    fusion: Fusion
    stack: Stack
    alignment: Alignment | None
    seconds: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """load -> align -> fuse, with the method and the alignment chosen once.

    Parameters
    ----------
    method : str or Fuser
        A registered method name, or a method already built.
    options : dict, optional
        The method's options (checked when the pipeline is built); only with a name.
    align : {"auto", "none", "translation", "similarity", "affine", "homography"}
        "auto" (default) registers with the similarity model and leaves already registered
        stacks untouched; "none" skips the stage.
    reference : int, optional
        Reference frame of the alignment; default the middle one.
    crop : bool
        Crop the aligned stack to the region every frame covers (default).
    skip_bad_frames : bool
        Drop frames that cannot be registered, with a warning, instead of failing.
    alignment : Alignment, optional
        A saved alignment to apply instead of estimating one.
    """

    def __init__(
        self,
        method: str | Fuser = DEFAULT_METHOD,
        options: dict[str, object] | None = None,
        *,
        align: str = "auto",
        reference: int | None = None,
        crop: bool = True,
        skip_bad_frames: bool = False,
        alignment: Alignment | None = None,
    ) -> None:
        if align not in ALIGN_CHOICES:
            raise OptionError(f"align must be one of {', '.join(ALIGN_CHOICES)}; got {align!r}.")
        if reference is not None and (isinstance(reference, bool) or reference < 0):
            raise OptionError(f"The reference frame must be an index ≥ 0; got {reference!r}.")
        if isinstance(method, Fuser):
            if options:
                raise OptionError("Options are given to a method by name, not to a built one.")
            self.fuser: Fuser = method
            self.method = method.name
        else:
            self.fuser = create(method, **(options or {}))
            self.method = method
        self.align_mode = align
        self.reference = reference
        self.crop = crop
        self.skip_bad_frames = skip_bad_frames
        self.alignment = alignment

    def load(self, images_or_paths: ImagesOrPaths, *, progress: bool = False) -> Stack:
        """The stack of arrays, files, a folder, a glob or a multi-page TIFF."""
        return as_stack(images_or_paths, progress=progress)

    def align(self, stack: Stack, *, crop: bool | None = None) -> tuple[Stack, Alignment | None]:
        """The aligned stack and its alignment (see `mfif.align.align_stack`); ``crop``
        overrides the pipeline's choice."""
        if self.reference is not None and self.reference >= stack.count:
            raise OptionError(
                f"The reference frame must be from 0 to {stack.count - 1}; got {self.reference}."
            )
        if self.align_mode == "auto" and min(stack.shape) < _MIN_SIDE_TO_ALIGN:
            return stack, None  # nothing to register on; tiny inputs pass through
        return align_stack(
            stack,
            model=self.align_mode,
            reference=self.reference,
            crop=self.crop if crop is None else crop,
            skip_bad_frames=self.skip_bad_frames,
            alignment=self.alignment,
        )

    def fuse(self, stack: Stack) -> Fusion:
        """The method's fusion of an (aligned) stack."""
        return self.fuser.fuse(stack)

    def run(self, images_or_paths: ImagesOrPaths, *, progress: bool = False) -> PipelineResult:
        """load -> align -> fuse."""
        seconds = {}
        started = time.perf_counter()
        stack = self.load(images_or_paths, progress=progress)
        seconds["load"] = time.perf_counter() - started
        return self.run_stack(stack, seconds=seconds)

    def run_stack(self, stack: Stack, *, seconds: dict[str, float] | None = None) -> PipelineResult:
        """align -> fuse on a stack already loaded."""
        seconds = dict(seconds or {})
        started = time.perf_counter()
        aligned, alignment = self.align(stack)
        seconds["align"] = time.perf_counter() - started
        started = time.perf_counter()
        fusion = self.fuse(aligned)
        seconds["fuse"] = time.perf_counter() - started
        return PipelineResult(fusion, aligned, alignment, seconds)


def streams(fuser: Fuser) -> bool:
    """True when ``fuser`` can fuse frames read one at a time (``fuse_frames``)."""
    return callable(getattr(fuser, "fuse_frames", None))


def stream_threshold() -> int:
    """Stacks larger than this many bytes as float32 are fused from disk when the method
    streams: ``$MFIF_STREAM_ABOVE`` (bytes), default 256 MiB (in memory, some methods need
    several times the stack)."""
    text = os.environ.get("MFIF_STREAM_ABOVE", "")
    try:
        return int(text) if text else 256 * 2**20
    except ValueError:
        raise OptionError(f"MFIF_STREAM_ABOVE must be a number of bytes; got {text!r}.") from None


def stream_fuse(
    pipeline: Pipeline,
    paths: Sequence[str | os.PathLike],
    *,
    progress: bool = False,
    on_weights: WeightsCallback | None = None,
) -> tuple[Fusion, FrameStore, Alignment | None, dict[str, float]]:
    """load -> align -> fuse with the frames on disk (`mfif.streaming`): memory depends on the
    frame size, not the frame count. Alignment is applied as the method reads each frame
    (``seconds["fuse"]`` includes the resampling). For methods that `streams` accepts, with
    cropping alignment, no saved alignment and no dropped frames. ``on_weights(k, weight)``
    receives each source's weight map in turn, for methods that produce weights.

    Returns
    -------
    fusion : Fusion
        Without weights.
    frames : FrameStore
        The frames as loaded (closed: names, shape and bit depth remain).
    alignment : Alignment or None
    seconds : dict of str to float
    """
    from .align import estimate_alignment, frame_summary
    from .streaming import AlignedFrames, ReadAhead, load_frames

    if not streams(pipeline.fuser) or pipeline.alignment is not None or not pipeline.crop:
        raise OptionError("This pipeline cannot stream: run it in memory.")
    seconds = {}
    started = time.perf_counter()
    aligning = pipeline.align_mode != "none"
    summarise = frame_summary if aligning else None  # registration's data, made while decoding
    with load_frames(paths, progress=progress, summarise=summarise) as frames:
        seconds["load"] = time.perf_counter() - started
        started = time.perf_counter()
        alignment = None
        aligned = None
        if pipeline.align_mode != "none" and min(frames.shape[1:3]) >= _MIN_SIDE_TO_ALIGN:
            model = "similarity" if pipeline.align_mode == "auto" else pipeline.align_mode
            alignment, _ = estimate_alignment(frames, model=model, reference=pipeline.reference)
            if not (pipeline.align_mode == "auto" and alignment.is_identity):
                aligned = AlignedFrames(frames, alignment)  # resampled as the method reads
        seconds["align"] = time.perf_counter() - started
        started = time.perf_counter()
        maps = {"on_weights": on_weights} if on_weights and pipeline.fuser.produces_weights else {}
        source = aligned or frames
        if getattr(pipeline.fuser, "read_ahead", False):  # a frame ahead fits in memory
            with ReadAhead(source) as ahead:
                fusion = pipeline.fuser.fuse_frames(ahead, keep_weights=False, **maps)
        else:  # pyramids: a large working set per frame, so no frame more
            fusion = pipeline.fuser.fuse_frames(source, keep_weights=False, **maps)
        seconds["fuse"] = time.perf_counter() - started
    return fusion, frames, alignment, seconds


def as_stack(images_or_paths: ImagesOrPaths, *, progress: bool = False) -> Stack:
    """Turn a `Stack`, a sequence of arrays, or paths (files, folders, globs, a multi-page TIFF)
    into a `Stack`."""
    if isinstance(images_or_paths, Stack):
        return images_or_paths
    if isinstance(images_or_paths, np.ndarray):
        if images_or_paths.ndim not in (3, 4):
            raise StackError(
                "An array stack must have shape (N, H, W) or (N, H, W, C); "
                f"got {images_or_paths.shape}."
            )
        return Stack.from_arrays(list(images_or_paths))
    if isinstance(images_or_paths, (str, os.PathLike)):
        return load_stack(images_or_paths, progress=progress)
    items = list(images_or_paths) if isinstance(images_or_paths, Iterable) else None
    if items and all(isinstance(item, np.ndarray) for item in items):
        return Stack.from_arrays(items)
    if items is None or not all(isinstance(item, (str, os.PathLike)) for item in items):
        kind = type(images_or_paths).__name__
        raise StackError(
            f"Give a Stack, a sequence of arrays, or image paths (files, folders, globs); got "
            f"{kind if items is None else 'a sequence mixing other things'}."
        )
    return load_stack(items, progress=progress)
