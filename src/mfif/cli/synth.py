"""``mfif synth mask|depth|layered``: focus stacks with ground truth, made from sharp images."""

from __future__ import annotations

import argparse
import sys

from ..options import Option

__all__ = ["add_parser"]


def add_parser(commands, common: argparse.ArgumentParser) -> None:
    """``mfif synth mask IMAGES MASKS OUT``, ``mfif synth depth IMAGES DEPTHS OUT`` and
    ``mfif synth layered IMAGES MASKS OUT``."""
    synth = commands.add_parser(
        "synth",
        help="make focus stacks with ground truth from sharp images",
        description="Write OUT/<scene>/{A,B[,C...],GT}.png and OUT/synth.json.",
    )
    kinds = synth.add_subparsers(title="kinds", metavar="KIND", required=True)
    mask = kinds.add_parser(
        "mask",
        parents=[common],
        help="object/background pairs from images and object masks",
        description="One source has the masked object sharp, the other the background "
        "(UFA-Fuse eq. (11)); blur kind and strength are drawn per scene from the seed.",
    )
    mask.add_argument("images", help="folder (or glob) of sharp images")
    mask.add_argument("masks", help="folder of masks named like the images (non-zero = object)")
    mask.add_argument("out", help="output folder")
    mask.add_argument("--psf", default="gaussian,mean,disk", help="blur kinds to draw from")
    mask.add_argument(
        "--transition",
        type=Option("float", low=0, high=100).argument_type(),
        default=1.5,
        help="soft edge σ in pixels",
    )
    _add_common(mask)
    mask.set_defaults(run=_run_mask)
    depth = kinds.add_parser(
        "depth",
        parents=[common],
        help="thin-lens stacks from images and disparity maps",
        description="Blur radius k·|d - d_focus| with N focus planes spread over the scene's "
        "disparities, disk point-spread function; unknown disparities (0) are filled first.",
    )
    depth.add_argument("images", help="folder (or glob) of sharp images")
    depth.add_argument("depths", help="folder of disparity maps named like the images")
    depth.add_argument("out", help="output folder")
    depth.add_argument(
        "--planes",
        type=Option("int", low=2, high=26).argument_type(),
        default=2,
        help="number of focus planes (default 2)",
    )
    depth.add_argument(
        "--max-blur",
        type=Option("float", low=0, high=100, low_open=True).argument_type(),
        default=8.0,
        help="blur radius in pixels across the whole disparity range (default 8)",
    )
    _add_common(depth)
    depth.set_defaults(run=_run_depth)
    _add_layered(kinds, common)


def _add_layered(kinds, common: argparse.ArgumentParser) -> None:
    layered = kinds.add_parser(
        "layered",
        parents=[common],
        help="an object over a background no frame focuses: where halos grow",
        description="Occlusion-aware thin-lens stacks: the masked object at depth 0 over a "
        "darkened background (the next image of the set) at depth 1, frame k focused at depth "
        "k/N; each layer blurred by its own disk and composited with the blurred mask. GT: the "
        "sharp object over the background at its least blur; LABELS.png: 2 object, 1 halo "
        "band, 0 background.",
    )
    layered.add_argument("images", help="folder (or glob) of sharp images")
    layered.add_argument("masks", help="folder of masks named like the images (non-zero = object)")
    layered.add_argument("out", help="output folder")
    for flag, option, default, description in (
        ("--planes", Option("int", low=2, high=26), 3, "frames per scene (default 3)"),
        ("--max-blur", Option("float", low=0, high=100, low_open=True), 8.0,
         "blur radius in pixels one depth unit from the focus (default 8)"),
        ("--background-gain", Option("float", low=0, high=1, low_open=True), 0.5,
         "brightness of the background (default 0.5)"),
        ("--highlights", Option("int", low=0, high=50), 3,
         "specular spots on the object (default 3)"),
        ("--transition", Option("float", low=0, high=100), 1.0,
         "soft edge σ of the object in pixels (default 1)"),
    ):  # fmt: skip
        layered.add_argument(flag, type=option.argument_type(), default=default, help=description)
    _add_common(layered)
    layered.set_defaults(run=_run_layered)


def _common_options(args: argparse.Namespace) -> dict:
    """The options every kind shares (`_add_common`): seed, capture, limit, motion."""
    from ..data.misalign import Misalignment

    return {
        "seed": args.seed,
        "noise": args.noise,
        "jpeg": args.jpeg,
        "limit": args.limit,
        "misalignment": Misalignment(args.breathing, args.shift, args.rotation, args.gain),
    }


def _add_common(parser: argparse.ArgumentParser) -> None:
    misaligned = parser.add_argument_group(
        "misalignment",
        "move the frames as a real stack moves (the middle frame stays put; "
        "the ground truth is cropped to the region every frame covers)",
    )
    for flag, high, metavar, description in (
        ("--breathing", 30, "PCT", "largest scale change from the first to the last frame, in "
         "percent (drawn per scene between a quarter of it and all of it)"),
        ("--shift", 100, "PX", "largest drift of a frame, in pixels"),
        ("--rotation", 10, "DEG", "largest rotation of a frame, in degrees"),
        ("--gain", 50, "PCT", "largest exposure change of a frame, in percent"),
    ):  # fmt: skip
        misaligned.add_argument(
            flag,
            type=Option("float", low=0, high=high).argument_type(),
            default=0.0,
            metavar=metavar,
            help=description,
        )
    parser.add_argument(
        "--seed",
        type=Option("int", low=0).argument_type(),
        default=0,
        help="seed of every random draw",
    )
    parser.add_argument(
        "--noise",
        type=Option("float", low=0, high=255).argument_type(),
        default=0.0,
        help="sensor noise σ at mid-grey, 8-bit levels: shot plus read noise (σ/4 in the "
        "black), added after the motion",
    )
    parser.add_argument(
        "--jpeg",
        type=Option("int", low=1, high=100).argument_type(),
        metavar="QUALITY",
        help="write the sources as JPEG of this quality (default: lossless PNG)",
    )
    parser.add_argument(
        "--limit", type=Option("int", low=1).argument_type(), help="at most this many scenes"
    )


def _report(manifest: dict, out: str) -> int:
    print(f"wrote {len(manifest['scenes'])} scenes to {out}")
    for scene, reason in manifest["skipped"].items():
        print(f"mfif: skipped {scene}: {reason}", file=sys.stderr)
    return 0


def _run_mask(args: argparse.Namespace) -> int:
    from ..data.synth import synthesize_from_masks

    kinds = [kind.strip() for kind in args.psf.split(",") if kind.strip()]
    manifest = synthesize_from_masks(
        [args.images],
        args.masks,
        args.out,
        kinds=kinds,
        transition=args.transition,
        **_common_options(args),
    )
    return _report(manifest, args.out)


def _run_depth(args: argparse.Namespace) -> int:
    from ..data.synth import synthesize_from_depth

    manifest = synthesize_from_depth(
        [args.images],
        args.depths,
        args.out,
        planes=args.planes,
        max_blur=args.max_blur,
        **_common_options(args),
    )
    return _report(manifest, args.out)


def _run_layered(args: argparse.Namespace) -> int:
    from ..data.layered import synthesize_layered

    manifest = synthesize_layered(
        [args.images],
        args.masks,
        args.out,
        planes=args.planes,
        max_blur=args.max_blur,
        background_gain=args.background_gain,
        highlights=args.highlights,
        transition=args.transition,
        **_common_options(args),
    )
    return _report(manifest, args.out)
