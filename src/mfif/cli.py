"""Command line: ``mfif fuse | methods | demo``.

Errors a user can cause print one sentence on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import ast
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import MfifError, OptionError

__all__ = ["main"]

_logger = logging.getLogger("mfif")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mfif`` console script; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="mfif: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except MfifError as error:
        print(f"mfif: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mfif: interrupted", file=sys.stderr)
        return 130


def _build_parser() -> argparse.ArgumentParser:
    from .methods import DEFAULT_METHOD

    parser = argparse.ArgumentParser(
        prog="mfif",
        description="Multi-focus image fusion: merge photos focused at different depths into one "
        "image that is sharp everywhere.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="report what is done")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    fuse = commands.add_parser(
        "fuse",
        parents=[common],
        help="fuse a focus stack into one image",
        description="Fuse two or more images of one scene, focused at different depths. Inputs "
        "are files, folders (all images inside, in name order), glob patterns, or one multi-page "
        "TIFF.",
    )
    fuse.add_argument("inputs", nargs="+", metavar="IMAGE", help="source images, folders or globs")
    fuse.add_argument("-o", "--output", required=True, metavar="OUT", help="fused image file")
    fuse.add_argument(
        "-m",
        "--method",
        default=DEFAULT_METHOD,
        help=f"fusion method (default: {DEFAULT_METHOD}; see 'mfif methods')",
    )
    fuse.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a method option, e.g. --option radius=8 (repeatable)",
    )
    fuse.add_argument("--weights", metavar="DIR", help="also write per-source weight maps here")
    fuse.add_argument(
        "--depth",
        metavar="FILE",
        help="also write the depth map: index of the winning source per pixel (0 = first)",
    )
    fuse.add_argument(
        "--bit-depth",
        type=int,
        choices=(8, 16),
        help="bit depth of the output (default: that of the inputs)",
    )
    fuse.set_defaults(run=_run_fuse)

    methods = commands.add_parser(
        "methods",
        parents=[common],
        help="list the fusion methods",
        description="List the fusion methods.",
    )
    methods.set_defaults(run=_run_methods)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="fuse a built-in 3-image stack with known ground truth",
        description="Render a 3-image focus stack with known ground truth from a sharp image "
        "shipped with scikit-image (Middlebury 'motorcycle' and its disparity), fuse it, write "
        "everything to a folder, and print the PSNR of each source and of the result.",
    )
    demo.add_argument(
        "--out", default="mfif-demo", metavar="DIR", help="output folder (default: mfif-demo)"
    )
    demo.add_argument("-m", "--method", default=DEFAULT_METHOD, help="fusion method")
    demo.set_defaults(run=_run_demo)
    return parser


def _parse_options(pairs: Sequence[str]) -> dict[str, object]:
    options: dict[str, object] = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name:
            raise OptionError(f"Options are written NAME=VALUE; got {pair!r}.")
        try:
            options[name.replace("-", "_")] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[name.replace("-", "_")] = text
    return options


def _run_fuse(args: argparse.Namespace) -> int:
    from .io import check_output_path, expand_inputs, load_stack, save_image
    from .methods import create

    fuser = create(args.method, **_parse_options(args.option))
    if (args.weights or args.depth) and not fuser.produces_weights:
        raise OptionError(
            f"The method {args.method!r} produces no weight maps, so --weights and --depth "
            "are not available with it."
        )
    paths = expand_inputs(args.inputs)
    output = Path(args.output)
    # Refuse before any work is done.
    check_output_path(output, paths)
    started = time.perf_counter()
    stack = load_stack(paths, progress=True)
    fusion = fuser.fuse(stack)
    save_image(output, fusion.image, bit_depth=args.bit_depth or stack.bit_depth, protected=paths)
    _logger.info(
        "fused %d images of %dx%d with %s in %.2f s -> %s",
        stack.count,
        stack.shape[1],
        stack.shape[0],
        args.method,
        time.perf_counter() - started,
        output,
    )
    if args.weights:
        folder = Path(args.weights)
        folder.mkdir(parents=True, exist_ok=True)
        for k, (weights, name) in enumerate(zip(fusion.weights, stack.names, strict=True)):
            stem = Path(name).stem.replace("[", "-").replace("]", "")
            save_image(
                folder / f"weights-{k:02d}-{stem}.png", weights, bit_depth=16, protected=paths
            )
    if args.depth:
        import numpy as np

        depth = fusion.depth.astype(np.uint8 if stack.count <= 256 else np.uint16)
        save_image(args.depth, depth, protected=paths)
    return 0


def _run_methods(args: argparse.Namespace) -> int:
    from .methods import DEFAULT_METHOD, list_methods, summary

    names = list_methods()
    width = max(len(name) for name in names)
    for name in names:
        marker = " (default)" if name == DEFAULT_METHOD else ""
        print(f"{name:<{width}}  {summary(name)}{marker}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(Path(args.out), method=args.method)
    return 0
