"""``mfif fuse``: one stack of files into one image, through the shared pipeline."""

from __future__ import annotations

import argparse
import json
import logging
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
        metavar="FILE",
        help="also write the depth map: index of the winning source per pixel (0 = first)",
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

    pipeline = Pipeline(
        args.method,
        parse_options(args.option),
        align=args.align,
        reference=args.reference,
        crop=not args.no_crop,
        skip_bad_frames=args.skip_bad_frames,
        alignment=Alignment.load(args.alignment) if args.alignment else None,
    )
    if (args.weights or args.depth) and not pipeline.fuser.produces_weights:
        raise OptionError(
            f"The method {pipeline.fuser.name!r} produces no weight maps, so --weights and --depth "
            "are not available with it."
        )
    paths = expand_inputs(args.inputs, exclude=args.exclude)
    started = time.perf_counter()
    # Every output is checked and reserved before any work: all are written, or none.
    with OutputSet(protected=paths) as outputs:
        targets = SaveTargets.reserve(
            outputs, args.output, bit_depth=args.bit_depth, metadata=not args.no_metadata,
            depth=args.depth, weights=args.weights, aligned=args.save_aligned,
            report=args.report,
        )  # fmt: skip
        with pipeline.run(paths, progress=True, maps=targets.wants_maps) as result:
            written = save(
                result, outputs, targets, method=pipeline.fuser.name, reference=pipeline.reference
            )
    if written.alignment is not None:
        _logger.info("alignment: %s", json.dumps(written.alignment.to_dict()))
    _logger.info(
        "fused %d images of %dx%d with %s%s in %.2f s -> %s",
        len(written.names),
        written.shape[1],
        written.shape[0],
        pipeline.fuser.name,
        " from disk" if written.streamed else "",
        time.perf_counter() - started,
        written.output,
    )
    return 0
