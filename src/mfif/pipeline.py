"""The one pipeline: load -> align -> fuse (-> save), shared by `mfif.fuse`, ``mfif fuse``,
``mfif batch``, ``mfif bench``, training's validation and the benchmark scripts.

`Pipeline.run` chooses where the frames live: in memory, or, for a stack too large for that
and a method that reads frames one at a time, in a scratch file on disk (`mfif.scratch`). Both
storages are `mfif.frames.FrameSource` s, so every stage after loading is the same code:
alignment (`mfif.align.align_frames`), fusion (`mfif.fusion.Fuser.fuse_frames`), and the
maps. `Pipeline.save` writes everything together (`mfif.files`).

Each stage can also be called on its own (`Pipeline.align`, `Pipeline.fuse` on a `Stack`),
skipped (``align="none"``) or given its result from elsewhere (``alignment=``), in the manner of
focus-stack's stage objects.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .align import ALIGN_CHOICES, Alignment, align_frames
from .decision import RunningWinner
from .errors import OptionError, StackError
from .frames import ArrayFrames, FrameSource, HeldFrames, ReadAhead
from .fusion import Fuser, Fusion
from .methods import DEFAULT_METHOD, create, method_class
from .stack import Stack
from .summaries import frame_summary, summary_reduction
from .upscaling import check_upscaling, upscaled

__all__ = [
    "Pipeline",
    "PipelineResult",
    "STORAGES",
    "as_stack",
    "is_paths",
    "stream_threshold",
]

_logger = logging.getLogger(__name__)

ImagesOrPaths = Stack | Sequence[np.ndarray] | Sequence[str | os.PathLike] | str | os.PathLike
STORAGES = ("auto", "memory", "disk")


@dataclass
class PipelineResult:
    """What a pipeline run produced. Close it (or use it as a context manager) to release the
    frames' scratch files.

    Attributes
    ----------
    fusion : Fusion
        The fused image, in the reference frame's coordinates (cropped unless asked not to).
        Its ``weights`` are kept in memory only; from disk see ``weight_maps``.
    frames : FrameSource
        The frames that were fused: aligned, gain-matched, cropped, and without the frames
        registration dropped. Open until the result is closed.
    alignment : Alignment or None
        The alignment estimated or applied; None when alignment was skipped.
    storage : {"memory", "disk"}
        Where the frames were kept.
    inputs : tuple of Path
        The files read (empty for arrays).
    weight_maps : sequence of ndarray of shape (H, W), or None
        Each source's weight map, when the run was asked for maps and the method has weights
        (from disk, kept in a scratch file).
    seconds : dict of str to float
        Time of each stage ("load", "align", "fuse"); from disk, resampling happens as the
        method reads, within "fuse".
    """

    fusion: Fusion
    frames: FrameSource
    alignment: Alignment | None
    storage: str
    inputs: tuple[Path, ...] = ()
    weight_maps: Sequence[np.ndarray] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    _depth: np.ndarray | None = None

    @property
    def depth(self) -> np.ndarray | None:
        """Index of the winning source per pixel (the first on ties), (H, W) int32; None for
        methods without weights."""
        return self._depth if self._depth is not None else self.fusion.depth

    @property
    def stack(self) -> Stack:
        """The fused frames as an in-memory `Stack` (read from disk when they were there)."""
        return self.frames.materialise()

    def close(self) -> None:
        """Release the scratch files of the frames and the weight maps."""
        self.frames.close()
        if isinstance(self.weight_maps, _StoredMaps):
            self.weight_maps.close()

    def __enter__(self) -> PipelineResult:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()


class Pipeline:
    """load -> align -> fuse, with the method, the alignment and the storage chosen once.

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
    storage : {"auto", "memory", "disk"}
        Where `run` keeps the frames of files: "auto" (default) keeps them in memory unless the
        float32 stack exceeds `stream_threshold` and the method reads frames one at a time.
    upscale : int
        Return the fusion this many times larger than the frames (default 1): the method's
        result enlarged by back-projection onto ``degradation`` (`mfif.upscaling`), or, for a
        method that super-resolves by itself (``dfp``), its own ``scale``.
    degradation : str
        With ``upscale``: how the frames were made from the scene at that size
        (`mfif.resample.DEGRADATIONS`; default the paper's Lanczos-2).
    enlargement : str, optional
        With ``upscale``: how the result is enlarged (`mfif.upscaling.INTERPOLATIONS`:
        "back-projection", at ×2 "learned", "lanczos", "bicubic"; dfp: its ``base``); default
        `mfif.upscaling.default_enlargement`.
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
        storage: str = "auto",
        upscale: int = 1,
        degradation: str = "lanczos2",
        enlargement: str | None = None,
    ) -> None:
        if align not in ALIGN_CHOICES:
            raise OptionError(f"align must be one of {', '.join(ALIGN_CHOICES)}; got {align!r}.")
        if reference is not None and (isinstance(reference, bool) or reference < 0):
            raise OptionError(f"The reference frame must be an index ≥ 0; got {reference!r}.")
        if storage not in STORAGES:
            raise OptionError(f"storage must be one of {', '.join(STORAGES)}; got {storage!r}.")
        if isinstance(method, Fuser):
            if options:
                raise OptionError("Options are given to a method by name, not to a built one.")
            self.fuser: Fuser = upscaled(method, upscale, degradation, enlargement)
            self.method = method.name
        else:
            self.fuser = _created(method, dict(options or {}), upscale, degradation, enlargement)
            self.method = method
        if storage == "disk" and self.fuser.needs_all_frames:
            raise OptionError(
                f"The method {self.method!r} needs every frame in memory at once; it cannot fuse "
                "from disk."
            )
        self.align_mode = align
        self.reference = reference
        self.crop = crop
        self.skip_bad_frames = skip_bad_frames
        self.alignment = alignment
        self.storage = storage

    # --- the stages, each on its own, in memory -----------------------------------------------

    def load(self, images_or_paths: ImagesOrPaths, *, progress: bool = False) -> Stack:
        """The stack of arrays, files, a folder, a glob or a multi-page TIFF, in memory."""
        return as_stack(images_or_paths, progress=progress)

    def align(
        self, frames: Stack | FrameSource, *, crop: bool | tuple[int, int, int, int] | None = None
    ) -> tuple[FrameSource, Alignment | None]:
        """The pipeline's alignment stage on frames in memory (`mfif.align.align_frames`): the
        aligned frames, read once and held (`mfif.frames.HeldFrames`, so that a method can
        still measure focus on the frames as stored), and the alignment. ``crop`` overrides
        the pipeline's choice (a box: see `mfif.warp.AlignedFrames`)."""
        options = self._align_options()
        if crop is not None:
            options["crop"] = crop
        source = ArrayFrames(frames) if isinstance(frames, Stack) else frames
        aligned, alignment = align_frames(source, **options)
        return HeldFrames.of(aligned), alignment

    def fuse(self, frames: Stack | FrameSource) -> Fusion:
        """The method's fusion of (aligned) frames."""
        if isinstance(frames, Stack):
            return self.fuser.fuse(frames)
        return self.fuser.fuse_frames(frames)

    # --- the whole run -----------------------------------------------------------------------

    def run(
        self,
        images_or_paths: ImagesOrPaths,
        *,
        progress: bool = False,
        maps: bool = False,
        weights: bool = True,
    ) -> PipelineResult:
        """load -> align -> fuse, with the frames in memory or on disk (see ``storage``).

        Parameters
        ----------
        images_or_paths : Stack, sequence of ndarray, or path(s)
            See `mfif.fuse`.
        progress : bool
            Progress bars on a terminal.
        maps : bool
            Keep each source's weight map (``PipelineResult.weight_maps``) and the depth map
            on either storage, for methods that produce weights.
        weights : bool
            Keep the fusion's weights in memory (``fusion.weights``, N full-size float32
            maps) when the frames are; False when only the image is wanted (the maps are
            then still kept if ``maps`` asks for them).

        Returns
        -------
        PipelineResult
            Close it when done (it holds the frames).
        """
        from .progress import progress_bar

        seconds: dict[str, float] = {}
        with progress_bar(total=3, label="fuse", unit="stage", enabled=progress) as stages:
            stages.set_postfix_str("load", refresh=False)
            started = time.perf_counter()
            paths = _expanded(images_or_paths)
            storage = self._storage_for(paths)
            frames = self._load(images_or_paths, paths, storage, progress)
            seconds["load"] = time.perf_counter() - started
            try:
                stages.update(1)
                stages.set_postfix_str("align", refresh=False)
                started = time.perf_counter()
                aligned, alignment = align_frames(frames, **self._align_options())
                if storage == "memory" and not (
                    self.fuser.read_ahead and aligned.reads_regions_alone
                ):
                    # Resampled once, not per read. Methods that read a few planes per frame
                    # resample what they read, as from disk, when a read can be a region.
                    aligned = HeldFrames.of(aligned)
                seconds["align"] = time.perf_counter() - started
                stages.update(1)
                stages.set_postfix_str(self.fuser.name, refresh=False)
                started = time.perf_counter()
                fusion, weight_maps, depth = self._fuse(aligned, storage, maps, weights)
                seconds["fuse"] = time.perf_counter() - started
                stages.update(1)
            except BaseException:
                frames.close()
                raise
        return PipelineResult(
            fusion, aligned, alignment, storage, tuple(paths or ()), weight_maps, seconds, depth
        )

    def _align_options(self) -> dict:
        return {
            "model": self.align_mode,
            "reference": self.reference,
            "crop": self.crop,
            "skip_bad_frames": self.skip_bad_frames,
            "alignment": self.alignment,
        }

    def _storage_for(self, paths: list[Path] | None) -> str:
        """ "disk" when the frames are two or more files (one file is a multi-page TIFF, read
        into memory), the method reads them one at a time and their float32 stack exceeds
        `stream_threshold` (or ``storage="disk"``); else "memory"."""
        if paths is None or self.fuser.needs_all_frames or len(paths) < 2:
            return "memory"
        if self.storage != "auto":
            return self.storage
        from .io import image_header

        header = image_header(paths[0]) if paths[0].is_file() else None
        if header is None:
            return "memory"
        size = len(paths) * header.height * header.width * header.channels * 4
        return "disk" if size > stream_threshold() else "memory"

    def _load(self, inputs, paths, storage: str, progress: bool) -> FrameSource:
        if paths is None:
            return ArrayFrames(as_stack(inputs))
        from .io import load_frames

        # Registration's data is made while decoding, sparing a second read of every frame.
        summarise = frame_summary if self.align_mode != "none" and self.alignment is None else None
        if storage == "disk" and self.fuser.rereads_frames:
            storage = "scratch"  # decoding a frame once per block would cost more than a copy
        if storage == "memory" and self.fuser.read_ahead:
            # Read a few times, a band at a time: kept as decoded, a float32 copy per read.
            storage = "samples"
        return load_frames(
            paths, storage=storage, progress=progress, summarise=summarise,
            summary_reduction=summary_reduction,
        )  # fmt: skip

    def _fuse(
        self, frames: FrameSource, storage: str, maps: bool, weights: bool
    ) -> tuple[Fusion, Sequence[np.ndarray] | None, np.ndarray | None]:
        """The fusion, and the weight and depth maps when asked: from disk, each weight map
        goes to a scratch file as the method makes it, and the depth map is a running winner."""
        if storage == "memory":
            fusion = self.fuser.fuse_frames(frames, keep_weights=weights or maps)
            return fusion, (fusion.weights if maps else None), None
        stored = None
        winner = RunningWinner()

        def on_weights(k: int, weight: np.ndarray) -> None:
            nonlocal stored
            if stored is None:
                stored = _StoredMaps(len(frames), weight.shape)
            stored.write(k, weight)
            winner.update(k, weight)

        wanted = {"on_weights": on_weights} if maps and self.fuser.produces_weights else {}
        try:
            if self.fuser.read_ahead:  # a frame ahead fits in memory
                with ReadAhead(frames) as ahead:
                    fusion = self.fuser.fuse_frames(ahead, keep_weights=False, **wanted)
            else:  # pyramids: a large working set per frame, so no frame more
                fusion = self.fuser.fuse_frames(frames, keep_weights=False, **wanted)
        except BaseException:
            if stored is not None:
                stored.close()
            raise
        return fusion, stored, winner.labels


class _StoredMaps:
    """Weight maps (H, W) float32 in a scratch file, as a sequence."""

    def __init__(self, count: int, shape: tuple[int, int]) -> None:
        from .scratch import FrameStore

        self._store = FrameStore(count, *shape, 1, bit_depth=32)

    def write(self, index: int, weight: np.ndarray) -> None:
        self._store.write(index, weight[..., None])

    def __len__(self) -> int:
        return len(self._store)

    def __getitem__(self, index: int) -> np.ndarray:
        return self._store.read(index)[..., 0]

    def close(self) -> None:
        self._store.close()


def stream_threshold() -> int:
    """Stacks larger than this many bytes as float32 are fused from disk when the method
    reads frames one at a time: ``$MFIF_STREAM_ABOVE`` (bytes), default 256 MiB (in memory,
    some methods need several times the stack)."""
    text = os.environ.get("MFIF_STREAM_ABOVE", "")
    try:
        return int(text) if text else 256 * 2**20
    except ValueError:
        raise OptionError(f"MFIF_STREAM_ABOVE must be a number of bytes; got {text!r}.") from None


def is_paths(images_or_paths: object) -> bool:
    """True for a path, or a non-empty sequence of paths (files, folders, globs)."""
    if isinstance(images_or_paths, (str, os.PathLike)):
        return True
    if isinstance(images_or_paths, (Stack, np.ndarray)) or not isinstance(
        images_or_paths, Iterable
    ):
        return False
    items = list(images_or_paths)
    return bool(items) and all(isinstance(item, (str, os.PathLike)) for item in items)


def _expanded(images_or_paths: ImagesOrPaths) -> list[Path] | None:
    """The image files of paths (`mfif.io.expand_inputs`); None for arrays."""
    if not is_paths(images_or_paths):
        return None
    from .io import expand_inputs

    if isinstance(images_or_paths, (str, os.PathLike)):
        images_or_paths = [images_or_paths]
    return expand_inputs(images_or_paths)


def as_stack(images_or_paths: ImagesOrPaths, *, progress: bool = False) -> Stack:
    """Turn a `Stack`, a sequence of arrays, or paths (files, folders, globs, a multi-page TIFF)
    into a `Stack`."""
    from .io import load_stack

    if isinstance(images_or_paths, Stack):
        return images_or_paths
    if isinstance(images_or_paths, np.ndarray):
        if images_or_paths.ndim not in (3, 4):
            raise StackError(
                "An array stack must have shape (N, H, W) or (N, H, W, C); "
                f"got {images_or_paths.shape}."
            )
        return Stack.from_arrays(list(images_or_paths))
    if is_paths(images_or_paths):
        return load_stack(images_or_paths, progress=progress)
    items = list(images_or_paths) if isinstance(images_or_paths, Iterable) else None
    if items and all(isinstance(item, np.ndarray) for item in items):
        return Stack.from_arrays(items)
    if items is None or items:
        kind = type(images_or_paths).__name__
        raise StackError(
            f"Give a Stack, a sequence of arrays, or image paths (files, folders, globs); got "
            f"{kind if items is None else 'a sequence mixing other things'}."
        )
    return load_stack(items, progress=progress)


def _created(
    method: str,
    options: dict[str, object],
    upscale: int,
    degradation: str,
    enlargement: str | None = None,
) -> Fuser:
    """The method ``method`` with its ``options``, returning its fusion ``upscale`` times
    larger: through its own ``scale``, ``degradation`` and ``base`` options when it
    super-resolves by itself (dfp; ``mfif.fuse(..., method="dfp", scale=2, degradation="box")``
    names its own options), else enlarged after fusing (`mfif.upscaling.upscaled`)."""
    if not method_class(method).super_resolves:
        return upscaled(create(method, **options), upscale, degradation, enlargement)
    wanted: dict[str, object] = {}
    if upscale != 1:
        wanted["scale"] = upscale
    if degradation != "lanczos2":
        wanted["degradation"] = degradation
    if enlargement is not None:
        wanted["base"] = enlargement
    for name in wanted:
        if name in options:
            raise OptionError(
                f"Give {method!r} either an upscaling factor, degradation and enlargement or "
                f"its options scale, degradation and base, not both ({name} twice)."
            )
    fuser = create(method, **options, **wanted)
    check_upscaling(getattr(fuser, "scale", 1), degradation, enlargement)
    return fuser
