"""``mfif demo``: a built-in stack with known ground truth, fused and scored."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(commands, common: argparse.ArgumentParser) -> None:
    """``mfif demo [--out DIR] [-m METHOD]``."""
    from ..methods import DEFAULT_METHOD

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
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    run_demo(Path(args.out), method=args.method)
    return 0
