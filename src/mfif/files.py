"""The save stage: everything a pipeline run produced, written together into reserved files,
shared by ``mfif fuse``, ``mfif batch`` and `mfif.fuse_to_file` so that all write the same bytes.

The output keeps the depth of the inputs as far as its format holds it and carries the reference
frame's metadata (`mfif.metadata`); the depth map, the weight maps, the aligned frames and a
JSON report are written beside it when asked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .align import Alignment
from .errors import OutputError
from .fusion import Fusion
from .outputs import OutputSet
from .pipeline import Pipeline, PipelineResult

__all__ = ["SaveTargets", "FileFusion", "reference_file", "save", "fuse_file", "file_stem"]


@dataclass(frozen=True)
class SaveTargets:
    """Where a run's outputs go, reserved in an `mfif.outputs.OutputSet` before any work.

    Attributes
    ----------
    image : Path
        The fused image; its suffix chooses the format.
    bit_depth : {8, 16, 32} or None
        Of the image; default the stack's, as far as the format holds it.
    metadata : bool
        Carry the reference frame's EXIF, IPTC, XMP and ICC profile.
    depth : Path or None
        The depth from focus (`mfif.depth`): a float32 TIFF in frame units; beside it
        ``<stem>-view.png`` (colour-mapped) and ``<stem>-confidence.png``.
    depth_index : Path or None
        The index of the winning source per pixel (8-bit up to 256 sources).
    depth_preview : Path or None
        A shaded 3-D preview of the fused image over the depth.
    weights : Path or None
        A folder for one 16-bit weight map per source.
    aligned : Path or None
        A folder for the aligned frames.
    report : Path or None
        A JSON report: frames, sizes, alignment.
    """

    image: Path
    bit_depth: int | None = None
    metadata: bool = True
    depth: Path | None = None
    weights: Path | None = None
    aligned: Path | None = None
    report: Path | None = None
    depth_index: Path | None = None
    depth_preview: Path | None = None

    @classmethod
    def reserve(
        cls,
        outputs: OutputSet,
        image: str | os.PathLike,
        *,
        bit_depth: int | None = None,
        metadata: bool = True,
        depth: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        aligned: str | os.PathLike | None = None,
        report: str | os.PathLike | None = None,
        depth_index: str | os.PathLike | None = None,
        depth_preview: str | os.PathLike | None = None,
    ) -> SaveTargets:
        """Check and reserve every output known before the stack is read.

        Raises
        ------
        OutputError
            An output that is an input, cannot be written, or cannot hold what is asked.
        """
        from .io import check_bit_depth

        weights_folder = outputs.folder(weights) if weights else None
        aligned_folder = outputs.folder(aligned) if aligned else None
        target = outputs.file(image)
        if bit_depth:
            check_bit_depth(target.suffix, bit_depth)
        depth_file = None
        if depth:
            if Path(depth).suffix.lower() not in (".tif", ".tiff"):
                raise OutputError(
                    f"--depth writes the depth as a float32 TIFF in frame units; give it a .tif "
                    f"name, not {Path(depth).name} (--depth-index writes the winning frame's "
                    "index as an image)."
                )
            depth_file = outputs.file(depth)
            for companion in depth_companions(depth_file):
                outputs.file(companion)
        index_file = outputs.file(depth_index) if depth_index else None
        if index_file is not None and index_file.suffix.lower() in (".jpg", ".jpeg"):
            raise OutputError(
                f"A depth map must be stored losslessly; {index_file.name} is a JPEG (use .png "
                "or .tif)."
            )
        preview_file = outputs.file(depth_preview) if depth_preview else None
        report_file = outputs.file(report, image=False) if report else None
        return cls(
            target, bit_depth, metadata, depth_file, weights_folder, aligned_folder, report_file,
            index_file, preview_file,
        )  # fmt: skip

    @property
    def wants_maps(self) -> bool:
        """True when the method's weight maps, or the index of the winner, are asked for."""
        return self.depth_index is not None or self.weights is not None


def depth_companions(depth: Path) -> tuple[Path, Path]:
    """The colour view and the confidence map written beside a depth TIFF."""
    return (
        depth.with_name(f"{depth.stem}-view.png"),
        depth.with_name(f"{depth.stem}-confidence.png"),
    )


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
    seconds: dict[str, float]


def save(
    result: PipelineResult,
    outputs: OutputSet,
    targets: SaveTargets,
    *,
    method: str = "",
    reference: int | None = None,
) -> FileFusion:
    """Write what ``result`` holds into the targets reserved in ``outputs`` (renamed into
    place together when ``outputs`` commits).

    Parameters
    ----------
    result : PipelineResult
        Of a run with ``maps=True`` when ``targets`` asks for the depth or weight maps.
    outputs : OutputSet
    targets : SaveTargets
    method : str
        Named in the report.
    reference : int, optional
        The pipeline's reference frame (for the metadata when nothing was aligned).
    """
    from .io import output_bit_depth

    frames = result.frames
    reference_path = None
    if targets.metadata and result.inputs:
        reference_path = reference_file(result.inputs, frames.names, result.alignment, reference)
    bit_depth = targets.bit_depth or output_bit_depth(targets.image.suffix, frames.bit_depth)
    image = result.fusion.image
    outputs.write_image(targets.image, image, bit_depth=bit_depth, metadata_from=reference_path)
    if targets.aligned is not None:
        _write_aligned(outputs, targets.aligned, frames)
    _write_maps(outputs, targets, result, frames.names)
    if targets.report is not None:
        height, width = result.alignment.shape if result.alignment is not None else frames.size
        report = {
            "inputs": [str(p) for p in result.inputs],
            "frames": list(frames.names),
            "method": method,
            "output": str(targets.image),
            # The frames' size as read; the output's, smaller when cropped, and where it lies.
            "size": [width, height],
            "output_size": [image.shape[1], image.shape[0]],
            "crop": list(frames.crop_box) if frames.crop_box is not None else None,
            "align_seconds": round(result.seconds.get("align", 0.0), 4),
            **({"streamed": True} if result.storage == "disk" else {}),
            "alignment": result.alignment.to_dict() if result.alignment is not None else None,
        }
        outputs.write_text(targets.report, json.dumps(report, indent=1) + "\n")
    return FileFusion(
        targets.image, result.fusion, frames.names, frames.size, frames.bit_depth,
        result.alignment, result.storage == "disk", reference_path, result.seconds,
    )  # fmt: skip


def _write_aligned(outputs: OutputSet, folder: Path, frames) -> None:
    """One file per aligned frame, named once the frames are known."""
    from .io import output_bit_depth

    suffix = ".tif" if frames.bit_depth == 32 else ".png"
    for k, name in enumerate(frames.names):
        path = outputs.file(folder / f"aligned-{k:02d}-{file_stem(name)}{suffix}")
        depth = output_bit_depth(path.suffix, frames.bit_depth)
        outputs.write_image(path, frames[k], bit_depth=depth)


def _write_maps(
    outputs: OutputSet, targets: SaveTargets, result: PipelineResult, names: Sequence[str]
) -> None:
    """The weight maps (16-bit) and the depth map (8-bit up to 256 sources)."""
    from .io import check_bit_depth

    if targets.weights is not None and result.weight_maps is not None:
        for k, name in enumerate(names):
            path = outputs.file(targets.weights / f"weights-{k:02d}-{file_stem(name)}.png")
            outputs.write_image(path, result.weight_maps[k], bit_depth=16)
    index = result.depth if targets.depth_index is not None else None
    if index is not None:
        if len(names) > 256:
            check_bit_depth(targets.depth_index.suffix, 16)
        outputs.write_image(
            targets.depth_index, index.astype(np.uint8 if len(names) <= 256 else np.uint16)
        )
    if targets.depth is None and targets.depth_preview is None:
        return
    from .depth import depth_colours, depth_tiff, estimate_depth, shaded_relief

    found = estimate_depth(result.frames)
    if result.fusion.image.shape[:2] != found.depth.shape:  # a super-resolved output
        found = found.resized(result.fusion.image.shape[:2])
    if targets.depth is not None:
        view, confidence = depth_companions(targets.depth)
        outputs.write_bytes(targets.depth, depth_tiff(found))
        outputs.write_image(view, depth_colours(found))
        outputs.write_image(confidence, found.confidence)
    if targets.depth_preview is not None:
        outputs.write_image(targets.depth_preview, shaded_relief(found, result.fusion.image))


def file_stem(name: str) -> str:
    """A frame's name as part of a file name: its stem, brackets made dashes (``b[1].png`` as
    ``b-1``; the pages of ``a.tif``, named ``a.tif[k]``, as ``a``)."""
    return Path(name).stem.replace("[", "-").replace("]", "")


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
    bit_depth : {8, 16, 32}, optional
        Default: the stack's, as far as the format holds it.
    metadata : bool
        Carry the reference frame's EXIF, IPTC, XMP and ICC profile.
    progress : bool
        Progress bars on a terminal.

    Raises
    ------
    MfifError
        Unreadable inputs, a stack that cannot be fused, or an output that cannot be written;
        nothing is written then.
    """
    from .io import expand_inputs

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = expand_inputs(inputs)
    with OutputSet(protected=paths) as outputs:
        targets = SaveTargets.reserve(outputs, output, bit_depth=bit_depth, metadata=metadata)
        with pipeline.run(paths, progress=progress, weights=False) as result:
            return save(
                result, outputs, targets, method=pipeline.method, reference=pipeline.reference
            )
