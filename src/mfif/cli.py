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

    metrics = commands.add_parser(
        "metrics",
        parents=[common],
        help="objective quality metrics of a fused image",
        description="Compute fusion metrics of FUSED against its sources (and a ground truth, "
        "if given). Colour images are measured on luminance Y (BT.601) unless --color mean. "
        "Metric names as in 'mfif metrics --list'.",
    )
    metrics.add_argument("fused", nargs="?", metavar="FUSED", help="the fused image")
    metrics.add_argument("--sources", nargs="+", default=[], metavar="IMAGE", help="source images")
    metrics.add_argument("--gt", metavar="IMAGE", help="all-in-focus ground truth (PSNR, SSIM)")
    metrics.add_argument(
        "--metrics",
        metavar="NAMES",
        help="comma-separated names (default: every metric the inputs allow)",
    )
    metrics.add_argument(
        "--color",
        choices=("luminance", "mean"),
        default="luminance",
        help="luminance Y (default) or the mean over R, G, B",
    )
    metrics.add_argument("--json", action="store_true", help="print JSON instead of a table")
    metrics.add_argument("--list", action="store_true", help="list the metrics and exit")
    metrics.set_defaults(run=_run_metrics)

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
    mask.add_argument("--transition", type=float, default=1.5, help="soft edge σ in pixels")
    _add_synth_common(mask)
    mask.set_defaults(run=_run_synth_mask)
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
    depth.add_argument("--planes", type=int, default=2, help="number of focus planes (default 2)")
    depth.add_argument(
        "--max-blur",
        type=float,
        default=8.0,
        help="blur radius in pixels across the whole disparity range (default 8)",
    )
    _add_synth_common(depth)
    depth.set_defaults(run=_run_synth_depth)

    bench = commands.add_parser(
        "bench",
        parents=[common],
        help="run methods on datasets; CSV, markdown and HTML reports",
        description="Run every method on every scene under the data roots (ROOT/<scene>/"
        "{A,B,...[,GT]} or ROOT/<set>/<scene>/...), score them with the same metric code, and "
        "write results.csv, summary.md and report.html to --out. Results are cached per "
        "(method version, scene): a rerun computes only what changed.",
    )
    bench.add_argument("roots", nargs="+", metavar="DATA_ROOT", help="folders of scenes or sets")
    bench.add_argument("--methods", help="comma-separated (default: every classical method)")
    bench.add_argument("--out", required=True, metavar="DIR", help="output folder")
    bench.add_argument("--metrics", help="comma-separated (default: PSNR, SSIM + UDPNet's ten)")
    bench.add_argument("--no-cache", action="store_true", help="recompute everything")
    bench.add_argument(
        "--report-scenes",
        type=int,
        default=3,
        metavar="N",
        help="scenes per dataset shown in report.html (default 3)",
    )
    bench.add_argument("--title", default="mfif benchmark", help="title of the reports")
    bench.set_defaults(run=_run_bench)

    train = commands.add_parser(
        "train", help="train a learned method", description="Train a learned method on CPU or CUDA."
    )
    networks = train.add_subparsers(title="networks", metavar="NETWORK", required=True)
    udpnet = networks.add_parser(
        "udpnet",
        parents=[common],
        help="UDPNet on unlabelled stacks (no ground truth is read)",
        description="Train UDPNet (Quan et al.) on random patch pairs from the stacks under "
        "--data; resumes from --checkpoint when it exists.",
    )
    udpnet.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders of stacks")
    udpnet.add_argument(
        "--checkpoint", required=True, metavar="PATH", help="checkpoint to write and resume"
    )
    udpnet.add_argument("--steps", type=int, required=True, help="total optimiser steps")
    udpnet.add_argument("--batch-size", type=int, default=16)
    udpnet.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate")
    udpnet.add_argument("--patch", type=int, default=60, help="patch side in pixels")
    udpnet.add_argument("--seed", type=int, default=0)
    udpnet.add_argument(
        "--no-blind-spot", action="store_true", help="ablation: self-reconstruction"
    )
    udpnet.add_argument("--no-fuser", action="store_true", help="ablation: mask predictor only")
    udpnet.add_argument(
        "--validate", nargs="+", metavar="DIR", help="scenes with GT for a PSNR score"
    )
    udpnet.add_argument("--predictor-levels", type=int, default=2, help="depth of F (default 2)")
    udpnet.add_argument("--fuser-levels", type=int, default=2, help="depth of G's estimators")
    udpnet.add_argument("--fuser-width", type=int, default=12, help="width of G's estimators")
    udpnet.add_argument(
        "--initial-masks",
        choices=["gradient", "laplacian"],
        default="gradient",
        help="focus operator of the initial masks: eq. (3)'s gradient (default) or our "
        "Laplacian variant",
    )
    udpnet.add_argument("--validate-every", type=int, default=500)
    udpnet.add_argument("--checkpoint-every", type=int, default=200)
    udpnet.add_argument("--export", metavar="PATH", help="also write the bare weights here")
    udpnet.set_defaults(run=_run_train_udpnet)
    return parser


def _run_train_udpnet(args: argparse.Namespace) -> int:
    import torch

    from .training.udpnet import UDPNetRecipe, train_udpnet, validation_psnr

    recipe = UDPNetRecipe(
        patch=args.patch,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        blind_spot=not args.no_blind_spot,
        use_fuser=not args.no_fuser,
        predictor_levels=args.predictor_levels,
        fuser_levels=args.fuser_levels,
        fuser_width=args.fuser_width,
        initial_masks=args.initial_masks,
    )
    validate = validation_psnr(args.validate) if args.validate else None
    model, history = train_udpnet(
        args.data,
        args.checkpoint,
        steps=args.steps,
        recipe=recipe,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        validate=validate,
        validate_every=args.validate_every,
    )
    for step, score in history.validation:
        print(f"step {step}: validation PSNR {score:.3f} dB")
    if args.export:
        export = Path(args.export)
        export.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), export)
        print(f"wrote {export}")
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from .bench.html import write_html
    from .bench.runner import run_benchmark
    from .bench.scenes import find_scenes
    from .bench.tables import summarize, write_csv, write_markdown
    from .methods import create, list_methods

    methods = (
        [m.strip() for m in args.methods.split(",") if m.strip()]
        if args.methods
        else list_methods(include_external=False)
    )
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    scenes, problems = find_scenes(args.roots)
    for problem in problems:
        print(f"mfif: skipped {problem}", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records, skipped = run_benchmark(
        scenes, methods, out, metrics=metrics, use_cache=not args.no_cache
    )
    for problem in skipped:
        print(f"mfif: skipped {problem}", file=sys.stderr)
    parameters = {name: create(name).parameter_count for name in methods}
    summaries = summarize(records, parameters)
    write_csv(records, out / "results.csv")
    write_markdown(summaries, out / "summary.md", args.title)
    used = [s for s in scenes if all(not p.startswith(s.key + ":") for p in skipped)]
    write_html(
        out / "report.html",
        out,
        args.title,
        used,
        records,
        summaries,
        scenes_per_dataset=args.report_scenes,
    )
    failed = sum(r.status == "failed" for r in records)
    print(
        f"{len(records)} runs ({failed} failed) on {len(used)} scenes; wrote "
        f"{out / 'summary.md'}, {out / 'results.csv'} and {out / 'report.html'}"
    )
    return 0


def _add_synth_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument("--noise", type=float, default=0.0, help="sensor noise σ, 8-bit levels")
    parser.add_argument("--limit", type=int, help="at most this many scenes")


def _report_synth(manifest: dict, out: str) -> int:
    print(f"wrote {len(manifest['scenes'])} scenes to {out}")
    for scene, reason in manifest["skipped"].items():
        print(f"mfif: skipped {scene}: {reason}", file=sys.stderr)
    return 0


def _run_synth_mask(args: argparse.Namespace) -> int:
    from .data.synth import synthesize_from_masks

    kinds = [kind.strip() for kind in args.psf.split(",") if kind.strip()]
    manifest = synthesize_from_masks(
        [args.images],
        args.masks,
        args.out,
        seed=args.seed,
        kinds=kinds,
        transition=args.transition,
        noise=args.noise,
        limit=args.limit,
    )
    return _report_synth(manifest, args.out)


def _run_synth_depth(args: argparse.Namespace) -> int:
    from .data.synth import synthesize_from_depth

    manifest = synthesize_from_depth(
        [args.images],
        args.depths,
        args.out,
        planes=args.planes,
        max_blur=args.max_blur,
        seed=args.seed,
        noise=args.noise,
        limit=args.limit,
    )
    return _report_synth(manifest, args.out)


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
    if args.depth:
        check_output_path(args.depth, paths)
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


def _run_metrics(args: argparse.Namespace) -> int:
    import json

    from .io import read_image
    from .metrics import METRICS, MetricError, available_metrics, compute, resolve

    if args.list:
        width = max(len(name) for name in METRICS)
        for name, metric in METRICS.items():
            print(f"{name:<{width}}  {metric.kind:<9}  {metric.better:<6}  {metric.summary}")
        return 0
    if args.fused is None:
        raise OptionError("Give the fused image to measure (or --list).")
    names = None
    if args.metrics:
        names = [resolve(name) for name in args.metrics.split(",") if name.strip()]
    fused = read_image(args.fused)[0]
    sources = [read_image(path)[0] for path in args.sources]
    truth = read_image(args.gt)[0] if args.gt else None
    requested = names
    if names is None:
        names = available_metrics(len(sources), truth is not None)
    values: dict[str, float] = {}
    failures: dict[str, str] = {}
    for name in names:
        try:
            values.update(compute([name], fused, sources, truth, color=args.color))
        except MetricError as error:
            failures[name] = str(error)
    if args.json:
        print(json.dumps(values, indent=2))
    else:
        width = max((len(name) for name in values), default=6)
        for name, value in values.items():
            print(f"{name:<{width}}  {value:12.6f}   {METRICS[name].better} is better")
    for name, message in failures.items():
        print(f"mfif: {name}: {message}", file=sys.stderr)
    if failures and requested is not None:
        return 2
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(Path(args.out), method=args.method)
    return 0
