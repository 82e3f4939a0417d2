"""``mfif bench``: every method on every scene, scored with the same code; CSV, markdown and
HTML reports."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

from ..errors import OptionError, StackError
from ..options import Option
from .arguments import degradation_argument

__all__ = ["add_parser", "run"]


def add_parser(commands, common: argparse.ArgumentParser) -> None:
    """``mfif bench ROOTS --out DIR``."""
    from ..align import ALIGN_CHOICES

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
        help="comma-separated (default: every trained method but per-stack optimisations "
        "such as dfp, and enfuse when it is installed); scenes with a ground truth also get "
        "the best single source as a baseline",
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
        type=Option("int", low=1).argument_type(),
        default=1,
        metavar="S",
        help="benchmark fusion with ×S super-resolution: scenes with a ground truth, sources "
        "downsampled by S (--degradation), scored against the full-resolution truth; dfp runs "
        "with scale=S, every other method followed by bicubic, by Lanczos and by "
        "back-projected Lanczos ×S (default 1)",
    )
    bench.add_argument(
        "--degradation",
        type=degradation_argument,
        default="lanczos2",
        metavar="MODEL",
        help="with --scale: how the sources are made from each scene, and the model dfp and "
        "back-projection are told: lanczos2 (default), bicubic, box or gaussian:SIGMA (SIGMA "
        "in full-resolution pixels)",
    )
    bench.add_argument(
        "--report-scenes",
        type=Option("int", low=0).argument_type(),
        default=3,
        metavar="N",
        help="scenes per dataset shown in report.html (default 3)",
    )
    bench.add_argument("--title", default="mfif benchmark", help="title of the reports")
    bench.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..bench.html import render_html
    from ..bench.runner import run_benchmark
    from ..bench.tables import render_csv, render_markdown, summarize
    from ..bench.upsampled import benchmark_pipelines
    from ..data.scenes import find_scenes
    from ..methods import is_trained, list_methods
    from ..metrics import require_installed, resolve
    from ..outputs import OutputSet

    methods = (
        list(dict.fromkeys(m.strip() for m in args.methods.split(",") if m.strip()))
        if args.methods
        else [m for m in list_methods(include_external=False, include_slow=False) if is_trained(m)]
        + (["enfuse"] if shutil.which("enfuse") else [])  # the peer, when installed
    )
    if not methods:
        raise OptionError("--methods names no method; give comma-separated method names.")
    if args.degradation != "lanczos2" and args.scale == 1:
        raise OptionError("--degradation says how sources are downsampled: give --scale 2 or more.")
    # Built once, before any work: an unknown method or a bad option fails now.
    pipelines = benchmark_pipelines(methods, args.align, args.scale, args.degradation)
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
            degradation=args.degradation,
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
            render_markdown(summaries, args.title, setting=_setting(args)),
            render_html(
                out,
                args.title,
                used,
                records,
                summaries,
                scenes_per_dataset=args.report_scenes,
                command=" ".join(["mfif", *map(shlex.quote, sys.argv[1:])]),
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


def _setting(args: argparse.Namespace) -> str | None:
    """summary.md's sentence on a super-resolution benchmark."""
    if args.scale == 1:
        return None
    return (
        f"Super-resolution ×{args.scale}: each scene's sources downsampled by {args.scale} "
        f"(degradation {args.degradation}), the results scored against the full-resolution "
        "ground truth."
    )
