"""What the commands share: the one-line argument errors, the fusing
options of ``fuse`` and ``batch``, and ``--option NAME=VALUE`` pairs."""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..errors import EXIT_BAD_INPUT, OptionError, did_you_mean
from ..options import Option

__all__ = ["Parser", "fusing_arguments", "parse_options", "say"]


def say(message: str) -> None:
    """One line on stderr, prefixed with 'mfif: '."""
    print("mfif: " + " ".join(message.split()), file=sys.stderr, flush=True)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line ("mfif: error: ...") and exit status 2, and
    a mistyped choice gets a suggestion."""

    def error(self, message: str) -> NoReturn:
        message = " ".join(message.split()).rstrip(".")
        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if wrong:
            choices = re.findall(r"'([^']*)'", wrong.group(2))
            message = message[: wrong.end(1) + 1] + did_you_mean(wrong.group(1), choices)
            message += f" (choose from {', '.join(choices)})"
        command = self.prog.removeprefix("mfif").strip()  # "fuse", or "" for mfif itself
        where = f"{command}: " if command else ""
        self.exit(EXIT_BAD_INPUT, f"mfif: error: {where}{message}; see '{self.prog} --help'.\n")


def fusing_arguments() -> argparse.ArgumentParser:
    """Method, alignment and output options that `fuse` and `batch` share."""
    from ..align import ALIGN_CHOICES as align_choices
    from ..methods import DEFAULT_METHOD as default_method

    fusing = Parser(add_help=False)
    fusing.add_argument(
        "-m",
        "--method",
        default=default_method,
        help=f"fusion method (default: {default_method}; see 'mfif methods')",
    )
    fusing.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a method option, e.g. --option radius=8 (repeatable)",
    )
    fusing.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="file names that are not frames, e.g. --exclude 'reference.*' (repeatable)",
    )
    fusing.add_argument(
        "--align",
        choices=align_choices,
        default="auto",
        help="register the frames before fusing (default auto: similarity, and already "
        "registered stacks are left untouched)",
    )
    fusing.add_argument(
        "--reference",
        type=Option("int", low=0).argument_type(),
        metavar="N",
        help="reference frame of the alignment (default: the middle one); its metadata is "
        "carried to the output",
    )
    fusing.add_argument(
        "--no-crop",
        action="store_true",
        help="keep the reference frame's size: borders not every frame covers are filled from "
        "the frames that cover them (default: crop to the region all frames cover)",
    )
    fusing.add_argument(
        "--skip-bad-frames",
        action="store_true",
        help="drop frames that cannot be registered, with a warning, instead of failing",
    )
    fusing.add_argument(
        "--upscale",
        type=Option("int", low=1, high=8).argument_type(),
        default=1,
        metavar="S",
        help="write the result S times larger than the frames: the fusion enlarged by "
        "back-projection onto --degradation (dfp: its own super-resolution) (default 1)",
    )
    fusing.add_argument(
        "--degradation",
        type=degradation_argument,
        default="lanczos2",
        metavar="MODEL",
        help="with --upscale: how the frames were made from the scene at that size: lanczos2 "
        "(default), bicubic (MATLAB's and Pillow's resize), box (pixel binning) or "
        "gaussian:SIGMA (a lens blur, SIGMA in pixels of the larger size)",
    )
    fusing.add_argument(
        "--enlargement",
        choices=("back-projection", "learned", "lanczos", "bicubic"),
        help="with --upscale: back-projection from Lanczos, back-projection from the learned "
        "x2 start (x2 only), or interpolation alone (dfp: its start) (default learned at x2, "
        "else back-projection)",
    )
    fusing.add_argument(
        "--bit-depth",
        type=int,
        choices=(8, 16, 32),
        help="bit depth of the output: 8, 16, or 32 (float32 TIFF) (default: that of the "
        "inputs, as far as the output format holds it)",
    )
    fusing.add_argument(
        "--no-metadata",
        action="store_true",
        help="do not carry the reference frame's EXIF, IPTC, XMP and ICC profile to the output",
    )
    return fusing


def degradation_argument(text: str) -> str:
    """A ``--degradation`` value, checked (`mfif.resample.check_degradation`)."""
    from ..resample import check_degradation

    try:
        return check_degradation(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_options(pairs: Sequence[str]) -> dict[str, object]:
    """``NAME=VALUE`` pairs to a dict; values are Python literals where they parse, else text
    (the method's option specification converts and checks them)."""
    options: dict[str, object] = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not separator or not name:
            raise OptionError(f"Options are written NAME=VALUE; got {pair!r}.")
        if name in options:
            raise OptionError(f"The option {name} is given twice.")
        try:
            options[name] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            options[name] = text
    return options
