"""Files in, one file out: the pipeline with its save stage, shared by ``mfif fuse`` and
``mfif batch`` so that both write the same bytes.

Large stacks are fused from disk (`mfif.pipeline.stream_fuse`) when the method can; the output
keeps the depth of the inputs as far as its format holds it, and carries the reference frame's
metadata (`mfif.metadata`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .align import Alignment
from .fusion import Fusion
from .pipeline import Pipeline, stream_fuse, stream_threshold, streams

__all__ = ["FileFusion", "should_stream", "reference_file", "fuse_into", "fuse_file"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileFusion:
    """What fusing a stack of files into a file produced.

    Attributes
    ----------
    output : Path
    fusion : Fusion
        Without weights when the stack was fused from disk.
    names : tuple of str
        The frames fused.
    shape : (height, width)
        Of the fused frames (aligned and cropped); the output is larger for super-resolving
        methods.
    bit_depth : int
        Of the stack (the output's, unless asked otherwise).
    alignment : Alignment or None
    streamed : bool
        Fused from disk, one frame at a time.
    reference : Path or None
        The file whose metadata the output carries.
    seconds : dict of str to float
    """

    output: Path
    fusion: Fusion
    names: tuple[str, ...]
    shape: tuple[int, int]
    bit_depth: int
    alignment: Alignment | None
    streamed: bool
    reference: Path | None
    seconds: dict[str, float] = field(default_factory=dict)


def should_stream(pipeline: Pipeline, paths: Sequence[Path]) -> bool:
    """Fuse from disk when the method can, the pipeline needs no whole stack (cropping
    alignment, none applied from a file, no frame dropped) and the float32 stack exceeds
    `mfif.pipeline.stream_threshold`."""
    from .io import image_header

    if not streams(pipeline.fuser) or len(paths) < 2:
        return False
    if not pipeline.crop or pipeline.alignment is not None or pipeline.skip_bad_frames:
        return False
    header = image_header(paths[0]) if paths[0].is_file() else None
    if header is None:
        return False
    size = len(paths) * header.height * header.width * header.channels * 4
    return size > stream_threshold()


def reference_file(
    paths: Sequence[Path], names: Sequence[str], alignment: Alignment | None, reference: int | None
) -> Path:
    """The file of the reference frame: the alignment's, else ``reference``, else the middle
    frame."""
    if len(paths) == 1:  # a multi-page TIFF
        return paths[0]
    if alignment is not None:
        index = alignment.reference
    else:
        index = reference if reference is not None else len(names) // 2
    by_name = {path.name: path for path in paths}
    return by_name.get(names[min(index, len(names) - 1)], paths[len(paths) // 2])


def fuse_into(
    pipeline: Pipeline,
    paths: Sequence[Path],
    outputs,
    output: Path,
    *,
    bit_depth: int | None = None,
    metadata: bool = True,
    progress: bool = False,
    on_weights: Callable[[str, int, np.ndarray], None] | None = None,
) -> FileFusion:
    """load -> align -> fuse -> save into ``output``, reserved in ``outputs``.

    Parameters
    ----------
    pipeline : Pipeline
    paths : sequence of Path
        Image files (after `mfif.io.expand_inputs`).
    outputs : OutputSet
        Renames the file into place when it commits.
    output : Path
        A target reserved in ``outputs``.
    bit_depth : {8, 16, 32}, optional
        Default: the stack's, as far as the format holds it.
    metadata : bool
        Carry the reference frame's EXIF, IPTC, XMP and ICC profile.
    progress : bool
        Progress bars on a terminal.
    on_weights : callable, optional
        Called as ``on_weights(name, k, weight)`` with each fused frame's name, index and
        weight map (H, W) float32, for methods that produce weights; from disk they are not
        kept, so this is how to write or reduce them.
    """
    from .io import output_bit_depth

    started = time.perf_counter()
    streamed = should_stream(pipeline, paths)
    if streamed:
        named = None
        if on_weights is not None:
            frame_names = [path.name for path in paths]

            def named(k: int, weight: np.ndarray) -> None:
                on_weights(frame_names[k], k, weight)

        fusion, frames, alignment, seconds = stream_fuse(
            pipeline, paths, progress=progress, on_weights=named
        )
        names, stack_depth = frames.names, frames.bit_depth
        shape = fusion.image.shape[:2]  # streaming methods keep the (cropped) frame size
    else:
        loaded = pipeline.load(paths, progress=progress)
        result = pipeline.run_stack(loaded, seconds={"load": time.perf_counter() - started})
        fusion, alignment, seconds = result.fusion, result.alignment, result.seconds
        names, stack_depth = result.stack.names, result.stack.bit_depth
        shape = result.stack.shape
        if on_weights is not None and fusion.weights is not None:
            for k, weight in enumerate(fusion.weights):
                on_weights(names[k], k, weight)
    reference = reference_file(paths, names, alignment, pipeline.reference) if metadata else None
    outputs.write_image(
        output,
        fusion.image,
        bit_depth=bit_depth or output_bit_depth(output.suffix, stack_depth),
        metadata_from=reference,
    )
    return FileFusion(
        output, fusion, tuple(names), (int(shape[0]), int(shape[1])), stack_depth, alignment,
        streamed, reference, seconds,
    )  # fmt: skip


def fuse_file(
    pipeline: Pipeline,
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    output: str | os.PathLike,
    *,
    bit_depth: int | None = None,
    metadata: bool = True,
    progress: bool = False,
) -> FileFusion:
    """Fuse image files into one file, atomically (as ``mfif fuse -o OUTPUT``).

    Parameters
    ----------
    pipeline : Pipeline
    inputs : path-like or sequence of path-like
        Files, folders, glob patterns or one multi-page TIFF.
    output : path-like
        The fused image; its suffix chooses the format. Never one of the inputs.
    bit_depth, metadata, progress
        As for `fuse_into`.

    Raises
    ------
    MfifError
        Unreadable inputs, a stack that cannot be fused, or an output that cannot be written;
        nothing is written then.
    """
    from .io import check_bit_depth, expand_inputs
    from .outputs import OutputSet

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = expand_inputs(inputs)
    with OutputSet(protected=paths) as outputs:
        target = outputs.file(output)
        if bit_depth:
            check_bit_depth(target.suffix, bit_depth)
        return fuse_into(
            pipeline, paths, outputs, target, bit_depth=bit_depth, metadata=metadata,
            progress=progress,
        )  # fmt: skip
