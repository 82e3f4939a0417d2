"""Command line: ``mfif fuse | methods | demo | metrics | synth | bench | train``.

Exit statuses: 0 success; 2 bad input (one sentence on stderr: a wrong file, option or
argument, not enough memory for the input); 130 interrupted (Ctrl-C); 143 terminated
(SIGTERM); 1 internal error (a bug: one sentence, the traceback with ``MFIF_DEBUG=1``). Every
command writes all of its outputs or none of them (`mfif.outputs.OutputSet`).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from .errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STACK_FAILED,
    EXIT_TERMINATED,
    MfifError,
    OptionError,
    OutputError,
    StackError,
)
from .terminal import Terminated, quiet_native_stderr, sigterm_raises

__all__ = ["main"]

_logger = logging.getLogger("mfif")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mfif`` console script; returns the exit status."""
    try:
        args = _build_parser().parse_args(argv)  # a bad argument: one line, SystemExit(2)
    except KeyboardInterrupt:  # Ctrl-C while the parser is built (it imports the methods)
        _say("interrupted")
        return EXIT_INTERRUPTED
    debug = bool(os.environ.get("MFIF_DEBUG"))
    verbose = bool(getattr(args, "verbose", False))
    with quiet_native_stderr(enabled=not (verbose or debug)), sigterm_raises():
        with _log_to_stderr(verbose):
            return _run(args, debug)


def _run(args: argparse.Namespace, debug: bool) -> int:
    try:
        return int(args.run(args) or EXIT_OK)
    except MfifError as error:
        _say(f"error: {error}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        _say("terminated")
        return EXIT_TERMINATED
    except MemoryError:
        _say(
            "error: not enough memory for this input; use fewer or smaller images, or a "
            "machine with more memory."
        )
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader of stdout went away (mfif methods | head -1)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:  # the system refused something: a full disk, a permission
        where = f"{error.filename}: " if error.filename else ""
        _say(f"error: {where}{(error.strerror or str(error)).rstrip('.')}.")
        return EXIT_BAD_INPUT
    except Exception as error:  # noqa: BLE001 - a bug: one sentence, the traceback on request
        if debug:
            traceback.print_exc()
        detail = (str(error).strip().splitlines() or [""])[0][:200]
        _say(
            f"internal error ({type(error).__name__}: {detail}); this is a bug in mfif, please "
            "report it with the command you ran (MFIF_DEBUG=1 prints the traceback)."
        )
        return EXIT_INTERNAL


def _say(message: str) -> None:
    """One line on stderr, prefixed with 'mfif: '."""
    print("mfif: " + " ".join(message.split()), file=sys.stderr, flush=True)


@contextlib.contextmanager
def _log_to_stderr(verbose: bool) -> Iterator[None]:
    """mfif's log messages to the (current) stderr while a command runs; other libraries'
    log records (tifffile's warnings about a corrupt file, say) are not shown."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mfif: %(message)s"))
    level, propagate = _logger.level, _logger.propagate
    root = logging.getLogger()
    silence = logging.NullHandler() if not root.handlers else None
    if silence is not None:  # else logging's last resort prints them on stderr
        root.addHandler(silence)
    _logger.addHandler(handler)
    _logger.setLevel(logging.INFO if verbose else logging.WARNING)
    _logger.propagate = False
    try:
        yield
    finally:
        _logger.removeHandler(handler)
        if silence is not None:
            root.removeHandler(silence)
        _logger.setLevel(level)
        _logger.propagate = propagate


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line ("mfif: error: ...") and exit status 2."""

    def error(self, message: str) -> NoReturn:
        message = " ".join(message.split()).rstrip(".")
        self.exit(
            EXIT_BAD_INPUT, f"mfif: error: {self.prog}: {message}; see '{self.prog} --help'.\n"
        )


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` (to ``high``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"≥ {low}"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}; got {text!r}")
        return value

    return parse


def _number(low: float, high: float | None = None, *, low_open: bool = False):
    """An argparse type: a finite number above ``low`` (or from it) up to ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        below = value <= low if low_open else value < low
        if not math.isfinite(value) or below or (high is not None and value > high):
            bound = f"{'>' if low_open else '≥'} {low:g}"
            if high is not None:
                bound += f" and ≤ {high:g}"
            raise argparse.ArgumentTypeError(f"must be a number {bound}; got {text!r}")
        return value

    return parse


def _fusing_arguments(align_choices, default_method: str) -> argparse.ArgumentParser:
    """Method, alignment and output options that `fuse` and `batch` share."""
    fusing = _Parser(add_help=False)
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
        "--align",
        choices=align_choices,
        default="auto",
        help="register the frames before fusing (default auto: similarity, and already "
        "registered stacks are left untouched)",
    )
    fusing.add_argument(
        "--reference",
        type=_integer(0),
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


def _build_parser() -> argparse.ArgumentParser:
    from .align import ALIGN_CHOICES
    from .methods import DEFAULT_METHOD

    parser = _Parser(
        prog="mfif",
        description="Multi-focus image fusion: merge photos focused at different depths into one "
        "image that is sharp everywhere.",
    )
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="report what is done")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    fusing = _fusing_arguments(ALIGN_CHOICES, DEFAULT_METHOD)
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
    fuse.set_defaults(run=_run_fuse)

    batch = commands.add_parser(
        "batch",
        parents=[common, fusing],
        help="fuse many stacks, one result each, on a Dask cluster",
        description="Fuse every stack under ROOT (a folder of stack folders, or a CSV file with "
        "a 'stack' column and an optional 'output' column) into one file per stack in DIR, with "
        "the options of 'mfif fuse'. Stacks already fused from the same inputs and options are "
        "skipped, so a batch resumes where it stopped. Runs on a local cluster of processes, or "
        "on a running Dask scheduler. Writes DIR/summary.csv; exits with status 1 when a stack "
        "failed.",
    )
    batch.add_argument("root", metavar="ROOT", help="folder of stack folders, or a CSV file")
    batch.add_argument("--out", required=True, metavar="DIR", help="output folder")
    batch.add_argument(
        "--suffix",
        metavar=".EXT",
        help="output format, e.g. .tif (default: that of each stack's frames; TIFF for RAW)",
    )
    batch.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="file names that are not frames, e.g. --exclude 'reference.*' (repeatable)",
    )
    batch.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster)",
    )
    batch.add_argument(
        "--workers",
        type=_integer(1),
        metavar="N",
        help="worker processes of the local cluster (default: one per core, as memory allows)",
    )
    batch.add_argument(
        "--summary", metavar="FILE", help="the summary CSV (default: DIR/summary.csv)"
    )
    batch.set_defaults(run=_run_batch)

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
    mask.add_argument(
        "--transition", type=_number(0, 100), default=1.5, help="soft edge σ in pixels"
    )
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
    depth.add_argument(
        "--planes", type=_integer(2, 26), default=2, help="number of focus planes (default 2)"
    )
    depth.add_argument(
        "--max-blur",
        type=_number(0, 100, low_open=True),
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
    bench.add_argument(
        "--methods",
        help="comma-separated (default: every method but external programs, networks not "
        "trained yet and per-stack optimisations such as dfp)",
    )
    bench.add_argument("--out", required=True, metavar="DIR", help="output folder")
    bench.add_argument("--metrics", help="comma-separated (default: PSNR, SSIM + UDPNet's ten)")
    bench.add_argument("--no-cache", action="store_true", help="recompute everything")
    bench.add_argument(
        "--align",
        choices=ALIGN_CHOICES,
        default="auto",
        help="alignment of each scene before fusing (default auto: registered scenes are left "
        "untouched)",
    )
    bench.add_argument(
        "--scale",
        type=_integer(1),
        default=1,
        metavar="S",
        help="benchmark fusion with ×S super-resolution: scenes with a ground truth, sources "
        "Lanczos-2-downsampled by S, scored against the full-resolution truth; dfp runs with "
        "scale=S, every other method once followed by bicubic and once by Lanczos ×S "
        "(default 1)",
    )
    bench.add_argument(
        "--report-scenes",
        type=_integer(0),
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
    from .training.recipes import TRAINERS

    for trainer in TRAINERS.values():
        _add_trainer(networks, trainer, common)
    return parser


def _add_trainer(networks, trainer, common: argparse.ArgumentParser) -> None:
    """``mfif train NETWORK``: the run's flags, then one flag per field of its recipe."""
    import dataclasses

    parser = networks.add_parser(
        trainer.name, parents=[common], help=trainer.summary, description=trainer.description
    )
    parser.add_argument("--data", nargs="+", required=True, metavar="DIR", help=trainer.data_help)
    parser.add_argument(
        "--checkpoint", required=True, metavar="PATH", help="checkpoint to write and resume"
    )
    parser.add_argument(
        "--recipe",
        choices=sorted(trainer.recipes),
        default=trainer.default_recipe,
        help=f"named settings; a flag below overrides one (default {trainer.default_recipe})",
    )
    parser.add_argument("--seed", type=_integer(0), default=0, help="seed of every draw")
    parser.add_argument(
        "--validate",
        nargs="+",
        metavar="DIR",
        help="scenes with GT to validate on with the shipped inference (default: the "
        "network's own validation set, if it has one)",
    )
    parser.add_argument("--no-validate", action="store_true", help="skip validation")
    parser.add_argument(
        "--validate-every", type=_integer(0), default=250, help="steps between validations"
    )
    parser.add_argument("--checkpoint-every", type=_integer(1), default=100)
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: CUDA if present")
    parser.add_argument("--export", metavar="PATH", help="also write the bare weights here")
    parser.add_argument(
        "--tag",
        help=f"with --export: describe the weights as {trainer.architecture}.TAG in the "
        "MANIFEST.json beside them",
    )
    parser.add_argument(
        "--score",
        nargs="+",
        metavar="DIR",
        default=[],
        help="with --tag: sets of scenes with GT to score the exported weights on",
    )
    parser.add_argument("--note", default="", help="with --tag: a note for the manifest")
    recipe = parser.add_argument_group("recipe")
    for setting in dataclasses.fields(next(iter(trainer.recipes.values()))):
        _add_recipe_flag(recipe, setting)
    parser.set_defaults(run=_run_train, trainer=trainer)


def _add_recipe_flag(group, setting) -> None:
    flag = "--" + setting.name.replace("_", "-")
    info = setting.metadata
    if setting.type in (bool, "bool"):
        group.add_argument(flag, action=argparse.BooleanOptionalAction, help=info["help"])
    elif setting.type in (int, "int"):
        group.add_argument(
            flag, type=_integer(info.get("low", 0), info.get("high")), help=info["help"]
        )
    elif setting.type in (float, "float"):
        group.add_argument(
            flag,
            type=_number(
                info.get("low", 0.0), info.get("high"), low_open=info.get("low_open", False)
            ),
            help=info["help"],
        )
    else:
        group.add_argument(flag, choices=info.get("choices"), help=info["help"])


def _run_train(args: argparse.Namespace) -> int:
    """Any network of `mfif.training.recipes.TRAINERS`: recipe, training, optional export."""
    import dataclasses
    import importlib

    from .outputs import OutputSet, same_file

    trainer = args.trainer
    base = trainer.recipes[args.recipe]
    changes = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(base)
        if getattr(args, f.name) is not None
    }
    recipe = dataclasses.replace(base, **changes)
    checkpoint = Path(args.checkpoint)
    _check_checkpoint_location(checkpoint)
    module, _, function = trainer.train.partition(":")
    train = getattr(importlib.import_module(module), function)
    if args.tag and not args.export:
        raise OptionError("--tag names exported weights; give --export PATH too.")
    if (args.score or args.note) and not args.tag:
        raise OptionError("--score and --note describe tagged weights; give --tag too.")
    if args.validate and args.no_validate:
        raise OptionError("--validate and --no-validate contradict each other; give one.")
    validate = args.validate or not args.no_validate
    from .data.scenes import find_scenes

    for root in args.score:  # checked now, not after hours of training
        if not any(scene.ground_truth for scene in find_scenes([root])[0]):
            raise OptionError(f"--score {root} holds no scene with a ground truth (GT image).")
    with OutputSet() as outputs:  # the export is reserved now, written after training
        if args.export and same_file(args.export, checkpoint):
            raise OutputError("--export and --checkpoint must be different files.")
        export = outputs.file(args.export, image=False) if args.export else None
        manifest = None
        if args.tag:
            from .weights import MANIFEST_NAME

            manifest = outputs.file(Path(args.export).parent / MANIFEST_NAME, image=False)
        model, history, record = train(
            args.data,
            checkpoint,
            recipe=recipe,
            seed=args.seed,
            checkpoint_every=args.checkpoint_every,
            validate=validate,
            validate_every=args.validate_every,
            device=args.device,
        )
        if history.start_step >= recipe.steps and export is None:
            raise OptionError(
                f"The checkpoint {checkpoint} is already at step {history.start_step}, so there "
                f"is nothing to train up to {recipe.steps} steps; ask for more (--steps) or "
                "--export its weights."
            )
        for step, score in history.validation:
            print(f"step {step}: validation PSNR {score:.3f} dB")
        if export is not None:
            import io

            import torch

            buffer = io.BytesIO()
            state = model.state() if hasattr(model, "state") else model.state_dict()
            torch.save(state, buffer)
            outputs.write_bytes(export, buffer.getvalue())
            if manifest is not None:
                from .training.export import manifest_entry

                entry = manifest_entry(args, trainer, recipe, model, history, record, buffer)
                outputs.write_bytes(manifest, entry)
    if export is not None:
        print(f"wrote {export}" + (f" and its entry in {manifest}" if manifest else ""))
    return 0


def _check_checkpoint_location(checkpoint: Path) -> None:
    """The checkpoint is written (and replaced) during training: check its place first."""
    from .outputs import OutputSet

    if checkpoint.is_dir():
        raise OutputError(f"The checkpoint {checkpoint} is a folder; give a file path.")
    if checkpoint.parent.exists():
        probe = OutputSet()
        try:
            probe.file(checkpoint, image=False)  # writable, name not too long
        finally:
            probe.abort()
    elif any(parent.exists() and not parent.is_dir() for parent in checkpoint.parents):
        raise OutputError(f"Cannot create the checkpoint {checkpoint}: a parent is a file.")


def _run_bench(args: argparse.Namespace) -> int:
    from .bench.html import render_html
    from .bench.runner import run_benchmark
    from .bench.tables import render_csv, render_markdown, summarize
    from .data.scenes import find_scenes
    from .methods import is_trained, list_methods
    from .metrics import require_installed, resolve
    from .outputs import OutputSet

    methods = (
        list(dict.fromkeys(m.strip() for m in args.methods.split(",") if m.strip()))
        if args.methods
        else [m for m in list_methods(include_external=False, include_slow=False) if is_trained(m)]
    )
    if not methods:
        raise OptionError("--methods names no method; give comma-separated method names.")
    # Built once, before any work: an unknown method or a bad option fails now.
    pipelines = _bench_pipelines(methods, args.align, args.scale)
    parameters = {name: pipeline.fuser.parameter_count for name, pipeline in pipelines.items()}
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    if metrics is not None:
        if not metrics:
            raise OptionError("--metrics names no metric; give comma-separated metric names.")
        metrics = [resolve(name) for name in metrics]
        require_installed(metrics)
    scenes, problems = find_scenes(args.roots)
    out = Path(args.out)
    # The reports are written together at the end; fused images and the cache are written
    # as each run ends, so that an interrupted benchmark resumes where it stopped.
    with OutputSet([p for s in scenes for p in s.sources]) as outputs:
        outputs.folder(out)
        report_files = [
            outputs.file(out / name, image=False)
            for name in ("results.csv", "summary.md", "report.html")
        ]
        records, skipped = run_benchmark(
            scenes,
            pipelines,
            out,
            metrics=metrics,
            use_cache=not args.no_cache,
            align=args.align,
            scale=args.scale,
        )
        used = [s for s in scenes if all(not p.startswith(s.key + ":") for p in skipped)]
        if not used:
            reasons = [*problems, *skipped]
            raise StackError(
                f"No usable scene under {', '.join(args.roots)}, so nothing was benchmarked "
                f"({len(reasons)} skipped; first: {reasons[0] if reasons else 'none found'})."
            )
        for problem in [*problems, *skipped]:
            print(f"mfif: skipped {problem}", file=sys.stderr)
        summaries = summarize(records, parameters)
        texts = (
            render_csv(records),
            render_markdown(summaries, args.title),
            render_html(
                out, args.title, used, records, summaries, scenes_per_dataset=args.report_scenes
            ),
        )
        for path, text in zip(report_files, texts, strict=True):
            outputs.write_text(path, text)
    failed = sum(r.status == "failed" for r in records)
    print(
        f"{len(records)} runs ({failed} failed) on {len(used)} scenes; wrote "
        f"{out / 'summary.md'}, {out / 'results.csv'} and {out / 'report.html'}"
    )
    return 0


def _bench_pipelines(methods: list[str], align: str, scale: int) -> dict:
    """One pipeline per benchmarked method; with ``scale`` > 1, a super-resolving method runs
    with ``scale`` and every other one twice, followed by bicubic and by Lanczos ×scale."""
    from .bench.upsampled import INTERPOLATIONS, UpsampledFuser
    from .methods import create
    from .pipeline import Pipeline

    pipelines = {}
    for name in methods:
        if scale == 1:
            pipelines[name] = Pipeline(name, align=align)
            continue
        fuser = create(name)
        if "scale" in fuser.options:
            pipelines[name] = Pipeline(name, {"scale": scale}, align=align)
            continue
        for interpolation in INTERPOLATIONS:
            upsampled = UpsampledFuser(fuser, scale, interpolation)
            pipelines[upsampled.name] = Pipeline(upsampled, align=align)
    return pipelines


def _misalignment(args: argparse.Namespace):
    from .data.misalign import Misalignment

    return Misalignment(args.breathing, args.shift, args.rotation, args.gain)


def _add_synth_common(parser: argparse.ArgumentParser) -> None:
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
            flag, type=_number(0, high), default=0.0, metavar=metavar, help=description
        )
    parser.add_argument("--seed", type=_integer(0), default=0, help="seed of every random draw")
    parser.add_argument(
        "--noise", type=_number(0, 255), default=0.0, help="sensor noise σ, 8-bit levels"
    )
    parser.add_argument("--limit", type=_integer(1), help="at most this many scenes")


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
        misalignment=_misalignment(args),
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
        misalignment=_misalignment(args),
    )
    return _report_synth(manifest, args.out)


def _parse_options(pairs: Sequence[str]) -> dict[str, object]:
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


def _run_fuse(args: argparse.Namespace) -> int:
    from .align import Alignment
    from .io import expand_inputs
    from .outputs import OutputSet
    from .pipeline import Pipeline

    pipeline = Pipeline(
        args.method,
        _parse_options(args.option),
        align=args.align,
        reference=args.reference,
        crop=not args.no_crop,
        skip_bad_frames=args.skip_bad_frames,
        alignment=Alignment.load(args.alignment) if args.alignment else None,
    )
    if (args.weights or args.depth) and not pipeline.fuser.produces_weights:
        raise OptionError(
            f"The method {args.method!r} produces no weight maps, so --weights and --depth "
            "are not available with it."
        )
    paths = expand_inputs(args.inputs)
    if args.save_aligned:
        return _run_fuse_saving_aligned(args, pipeline, paths)
    from .files import fuse_into

    started = time.perf_counter()
    # Every output is checked and reserved before any work: all are written, or none.
    with OutputSet(protected=paths) as outputs:
        targets = _reserve_fuse_outputs(args, outputs)
        maps = _MapWriter(outputs, targets) if args.weights or args.depth else None
        result = fuse_into(
            pipeline,
            paths,
            outputs,
            targets["output"],
            bit_depth=args.bit_depth,
            metadata=not args.no_metadata,
            progress=True,
            on_weights=maps,
        )
        if maps is not None:
            maps.finish()
        extra: dict = {"align_seconds": round(result.seconds.get("align", 0.0), 4)}
        if result.streamed:
            extra["streamed"] = True
        size = (result.shape[1], result.shape[0])
        _report_fuse(
            args, outputs, targets, paths, result.names, size, result.fusion, result.alignment,
            extra,
        )  # fmt: skip
    _logger.info(
        "fused %d images of %dx%d with %s%s in %.2f s -> %s",
        len(result.names),
        size[0],
        size[1],
        args.method,
        " from disk" if result.streamed else "",
        time.perf_counter() - started,
        targets["output"],
    )
    return 0


def _run_batch(args: argparse.Namespace) -> int:
    from .batching import BatchSettings, batch

    settings = BatchSettings(
        method=args.method,
        options=tuple(sorted(_parse_options(args.option).items())),
        align=args.align,
        reference=args.reference,
        crop=not args.no_crop,
        skip_bad_frames=args.skip_bad_frames,
        bit_depth=args.bit_depth,
        metadata=not args.no_metadata,
    )
    if args.suffix and args.bit_depth:
        from .io import check_bit_depth

        check_bit_depth(args.suffix if args.suffix.startswith(".") else f".{args.suffix}",
                        args.bit_depth)  # fmt: skip
    started = time.perf_counter()
    summary_path = Path(args.summary) if args.summary else Path(args.out) / "summary.csv"
    summary = batch(
        args.root, args.out, settings=settings, suffix=args.suffix, exclude=args.exclude,
        scheduler=args.scheduler, workers=args.workers, summary=summary_path, progress=True,
    )  # fmt: skip
    for row in summary.failed:
        print(f"mfif: {row.stack}: {row.message}", file=sys.stderr)
    counts = summary.counts()
    print(
        f"{len(summary.rows)} stacks: {counts['fused']} fused, {counts['skipped']} unchanged, "
        f"{counts['failed']} failed in {time.perf_counter() - started:.1f} s; "
        f"summary: {summary_path}"
    )
    return EXIT_STACK_FAILED if summary.failed else EXIT_OK


class _MapWriter:
    """Writes each source's weight map as the fusion makes it (``--weights``) and keeps the
    running winner for the depth map (``--depth``): no N maps held, so large stacks stream."""

    def __init__(self, outputs, targets: dict) -> None:
        from .decision import RunningWinner

        self.outputs = outputs
        self.folder = targets["weights"]
        self.depth = targets["depth"]
        self.winner = RunningWinner() if self.depth is not None else None
        self.count = 0

    def __call__(self, name: str, k: int, weight) -> None:
        if self.folder is not None:
            stem = Path(name).stem.replace("[", "-").replace("]", "")
            path = self.outputs.file(self.folder / f"weights-{k:02d}-{stem}.png")
            self.outputs.write_image(path, weight, bit_depth=16)
        if self.winner is not None:
            self.winner.update(k, weight)
        self.count = max(self.count, k + 1)

    def finish(self) -> None:
        """Write the depth map: the index of the winning source, 8-bit up to 256 sources."""
        import numpy as np

        from .io import check_bit_depth

        if self.winner is None or self.winner.labels is None:
            return
        if self.count > 256:
            check_bit_depth(self.depth.suffix, 16)
        depth_type = np.uint8 if self.count <= 256 else np.uint16
        self.outputs.write_image(self.depth, self.winner.labels.astype(depth_type))


def _run_fuse_saving_aligned(args: argparse.Namespace, pipeline, paths: list[Path]) -> int:
    """In memory, writing the aligned frames too (and weights and depth when asked)."""
    from .files import reference_file
    from .outputs import OutputSet

    started = time.perf_counter()
    with OutputSet(protected=paths) as outputs:
        targets = _reserve_fuse_outputs(args, outputs)
        stack = pipeline.load(paths, progress=True)
        aligned_started = time.perf_counter()
        aligned, alignment = pipeline.align(stack)
        align_seconds = time.perf_counter() - aligned_started
        aligned_files = _reserve_aligned_outputs(targets, aligned, outputs)
        fusion = pipeline.fuse(aligned)
        reference = None
        if not args.no_metadata:
            reference = reference_file(paths, aligned.names, alignment, pipeline.reference)
        _write_fuse_outputs(args, outputs, targets, aligned_files, aligned, fusion, reference)
        if args.weights or args.depth:
            maps = _MapWriter(outputs, targets)
            for k, weight in enumerate(fusion.weights):
                maps(aligned.names[k], k, weight)
            maps.finish()
        size = (aligned.shape[1], aligned.shape[0])
        _report_fuse(
            args, outputs, targets, paths, aligned.names, size, fusion, alignment,
            {"align_seconds": round(align_seconds, 4)},
        )  # fmt: skip
    _logger.info(
        "fused %d images of %dx%d with %s in %.2f s -> %s",
        aligned.count,
        aligned.shape[1],
        aligned.shape[0],
        args.method,
        time.perf_counter() - started,
        targets["output"],
    )
    return 0


def _report_fuse(args, outputs, targets, paths, names, size, fusion, alignment, extra) -> None:
    """Log the alignment and write the JSON report, when asked for."""
    if alignment is not None:
        _logger.info("alignment: %s", json.dumps(alignment.to_dict()))
    if targets["report"] is None:
        return
    report = {
        "inputs": [str(p) for p in paths],
        "frames": list(names),
        "method": args.method,
        "output": str(targets["output"]),
        "size": list(size),
        "output_size": [fusion.image.shape[1], fusion.image.shape[0]],
        **extra,
        "alignment": alignment.to_dict() if alignment is not None else None,
    }
    outputs.write_text(targets["report"], json.dumps(report, indent=1) + "\n")


def _reserve_fuse_outputs(args: argparse.Namespace, outputs) -> dict:
    """Check and reserve the outputs known before the stack is read."""
    from .io import check_bit_depth

    targets: dict = {
        "weights": outputs.folder(args.weights) if args.weights else None,
        "aligned": outputs.folder(args.save_aligned) if args.save_aligned else None,
    }
    targets["output"] = outputs.file(args.output)
    if args.bit_depth:
        check_bit_depth(targets["output"].suffix, args.bit_depth)
    targets["depth"] = outputs.file(args.depth) if args.depth else None
    if targets["depth"] is not None and targets["depth"].suffix.lower() in (".jpg", ".jpeg"):
        raise OutputError(
            f"A depth map must be stored losslessly; {targets['depth'].name} is a JPEG (use .png "
            "or .tif)."
        )
    targets["report"] = outputs.file(args.report, image=False) if args.report else None
    return targets


def _reserve_aligned_outputs(targets: dict, stack, outputs) -> list[Path]:
    """The aligned frames, one file per frame: named once the frames are known."""
    stems = [Path(name).stem.replace("[", "-").replace("]", "") for name in stack.names]
    suffix = ".tif" if stack.bit_depth == 32 else ".png"
    return [
        outputs.file(targets["aligned"] / f"aligned-{k:02d}-{stem}{suffix}")
        for k, stem in enumerate(stems)
    ]


def _write_fuse_outputs(args, outputs, targets, aligned_files, stack, fusion, reference) -> None:
    from .io import output_bit_depth

    output = targets["output"]
    bit_depth = args.bit_depth or output_bit_depth(output.suffix, stack.bit_depth)
    outputs.write_image(output, fusion.image, bit_depth=bit_depth, metadata_from=reference)
    for path, frame in zip(aligned_files, stack.images, strict=True):
        outputs.write_image(path, frame, bit_depth=output_bit_depth(path.suffix, stack.bit_depth))


def _run_methods(args: argparse.Namespace) -> int:
    from .methods import DEFAULT_METHOD, list_methods, pretrained_name, summary
    from .weights import pretrained_config

    names = list_methods()
    width = max(len(name) for name in names)
    for name in names:
        marker = " (default)" if name == DEFAULT_METHOD else ""
        weights = pretrained_name(name)
        if weights is not None:
            config = pretrained_config(weights)
            marker += (
                f" [weights {weights}: {config.parameters:,} parameters]"
                if config is not None
                else f" [not trained yet: no weights {weights} shipped]"
            )
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
    if args.metrics is not None:
        names = [resolve(name.strip()) for name in args.metrics.split(",") if name.strip()]
        if not names:
            raise OptionError("--metrics names no metric; give comma-separated metric names.")
    fused = read_image(args.fused)[0]
    sources = [read_image(path)[0] for path in args.sources]
    truth = read_image(args.gt)[0] if args.gt else None
    compute([], fused, sources, truth, color=args.color)  # sizes and channels, checked once
    requested = names
    if names is None:
        names = available_metrics(len(sources), truth is not None)
    values: dict[str, float] = {}
    failures: dict[str, str] = {}
    for name in names:
        try:
            values.update(compute([name], fused, sources, truth, color=args.color))
        except MetricError as error:
            failures[name] = str(error).rstrip(".")
    if not values:
        raise MetricError(
            "No metric is defined for these images: "
            + "; ".join(f"{name}: {reason}" for name, reason in failures.items())
            + "."
        )
    if args.json:
        print(json.dumps(values, indent=2))
    else:
        width = max((len(name) for name in values), default=6)
        for name, value in values.items():
            print(f"{name:<{width}}  {value:12.6f}   {METRICS[name].better} is better")
    if failures:
        detail = "; ".join(f"{name}: {reason}" for name, reason in failures.items())
        if requested is not None:
            _say(f"error: undefined for these images: {detail}.")
            return EXIT_BAD_INPUT
        _say(f"left out, undefined for these images: {detail}.")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(Path(args.out), method=args.method)
    return 0
