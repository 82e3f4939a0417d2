"""``mfif fuse``: one stack of files into one image, through the shared pipeline."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from ..errors import OptionError
from .arguments import fusing_arguments, parse_options

__all__ = ["add_parser", "run"]

_logger = logging.getLogger("mfif")


def add_parser(commands, common: argparse.ArgumentParser) -> None:
    """``mfif fuse INPUTS -o OUT``, with the fusing options and the extra outputs."""
    fusing = fusing_arguments()
    fuse = commands.add_parser(
        "fuse",
        parents=[common, fusing],
        help="fuse a focus stack into one image",
        description="Fuse two or more images of one scene, focused at different depths. Inputs "
        "are files (PNG, JPEG, BMP, TIFF, camera RAW), folders (all images inside, in name "
        "order), glob patterns, or one multi-page TIFF.",
    )
    fuse.add_argument("inputs", nargs="+", metavar="IMAGE", help="source images, folders or globs")
    fuse.add_argument("-o", "--output", required=True, metavar="OUT", help="fused image file")
    fuse.add_argument("--weights", metavar="DIR", help="also write per-source weight maps here")
    fuse.add_argument(
        "--depth",
        metavar="FILE.tif",
        help="also write the depth from focus: a float32 TIFF in frame units (0 = first frame, "
        "between frames where the focus allows), with FILE-view.png (colour-mapped) and "
        "FILE-confidence.png beside it",
    )
    fuse.add_argument(
        "--depth-index",
        metavar="FILE",
        help="also write the index of the winning source per pixel (0 = first), for methods "
        "with weight maps",
    )
    fuse.add_argument(
        "--depth-preview",
        metavar="FILE",
        help="also write a shaded 3-D preview of the result over the depth",
    )
    fuse.add_argument("--save-aligned", metavar="DIR", help="also write the aligned frames here")
    fuse.add_argument(
        "--report",
        metavar="FILE",
        help="also write a JSON report: frames, alignment transforms and their quality",
    )
    fuse.add_argument(
        "--alignment",
        metavar="FILE",
        help="apply the alignment of a JSON report (e.g. of an earlier shot) instead of "
        "estimating one",
    )
    fuse.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..align import Alignment
    from ..files import SaveTargets, save
    from ..io import expand_inputs
    from ..outputs import OutputSet
    from ..pipeline import Pipeline
    from ..progress import on_a_terminal, progress_bar

    # A network takes seconds to load (PyTorch, its weights): say so at once on a terminal.
    network = _is_network(args.method)
    with progress_bar(total=1, label="fuse", unit="step", enabled=network, delay=0) as loading:
        loading.set_postfix_str(f"loading {args.method}")
        pipeline = Pipeline(
            args.method,
            parse_options(args.option),
            align=args.align,
            reference=args.reference,
            crop=not args.no_crop,
            skip_bad_frames=args.skip_bad_frames,
            alignment=Alignment.load(args.alignment) if args.alignment else None,
            upscale=args.upscale,
            degradation=args.degradation,
            enlargement=args.enlargement,
        )
    if (args.weights or args.depth_index) and not pipeline.fuser.produces_weights:
        raise OptionError(
            f"The method {pipeline.fuser.name!r} produces no weight maps, so --weights and "
            "--depth-index are not available with it."
        )
    paths = expand_inputs(args.inputs, exclude=args.exclude)
    started = time.perf_counter()
    # Every output is checked and reserved before any work: all are written, or none.
    with OutputSet(protected=paths) as outputs:
        targets = SaveTargets.reserve(
            outputs, args.output, bit_depth=args.bit_depth, metadata=not args.no_metadata,
            depth=args.depth, weights=args.weights, aligned=args.save_aligned,
            report=args.report, depth_index=args.depth_index, depth_preview=args.depth_preview,
        )  # fmt: skip
        with pipeline.run(paths, progress=True, maps=targets.wants_maps, weights=False) as result:
            written = save(
                result, outputs, targets, method=pipeline.fuser.name, reference=pipeline.reference
            )
    for line in _alignment_lines(written.alignment, written.names):
        _logger.info("%s", line)
    seconds = time.perf_counter() - started
    _logger.info("fused in %.2f s%s", seconds, " from disk" if written.streamed else "")
    if not args.quiet and on_a_terminal():  # off a terminal: nothing but errors
        print(f"mfif: {_summary(written, pipeline.fuser.name, seconds)}", file=sys.stderr)
    return 0


def _summary(written, method: str, seconds: float) -> str:
    """One line: frames, method, motion, crop, output size and file, time."""
    parts = [f"fused {len(written.names)} frames with {method} in {seconds:.1f} s"]
    alignment = written.alignment
    if alignment is None:
        parts.append("not aligned")
    elif alignment.is_still:
        parts.append(
            "no motion found" + ("" if alignment.gains_matched else ", brightness matched")
        )
    else:
        height, width = alignment.shape
        moved = max(frame.displacement(height, width) for frame in alignment.frames)
        parts.append(f"motion up to {moved:.1f} px")
        if tuple(written.shape) != (height, width):
            parts.append(f"cropped from {width}x{height} to {written.shape[1]}x{written.shape[0]}")
    image_height, image_width = written.fusion.image.shape[:2]
    return ", ".join(parts) + f": {image_width}x{image_height} -> {written.output}"


def _alignment_lines(alignment, names) -> list[str]:
    """The alignment as -v prints it, a line per frame (the JSON is in --report)."""
    if alignment is None:
        return ["alignment: skipped"]
    import numpy as np

    height, width = alignment.shape
    if alignment.is_identity:
        outcome = "no motion found, frames left as they are"
    elif alignment.is_still:
        outcome = "no motion found, brightness matched (frames not resampled)"
    else:
        outcome = "applied"
    lines = [f"alignment ({alignment.model}): {outcome}"]
    for k, (name, frame) in enumerate(zip(names, alignment.frames, strict=True)):
        if k == alignment.reference:
            lines.append(f"  frame {k} ({name}): the reference")
            continue
        linear = frame.matrix[:2, :2]
        scale = float(np.sqrt(abs(np.linalg.det(linear))))
        degrees = float(np.degrees(np.arctan2(linear[1, 0], linear[0, 0])))
        gains = ", ".join(f"{gain:.3f}" for gain in frame.gains)
        lines.append(
            f"  frame {k} ({name}): moved {frame.displacement(height, width):.2f} px "
            f"(scale {scale:.4f}, rotation {degrees:+.3f} deg), uncertainty "
            f"{frame.uncertainty:.2f} px, gain {gains}, correlation {frame.correlation:.3f}"
        )
    return lines


def _is_network(method: str) -> bool:
    """Whether ``method`` runs shipped network weights (False for an unknown name: building
    the pipeline says so)."""
    from ..methods import pretrained_name

    try:
        return pretrained_name(method) is not None
    except KeyError:
        return False
