"""``mfif batch``: every stack under a folder (or in a CSV), one result each, on Dask."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import EXIT_OK, EXIT_STACK_FAILED
from ..options import Option
from .arguments import fusing_arguments, parse_options

__all__ = ["add_parser", "run"]


def add_parser(commands, common: argparse.ArgumentParser) -> None:
    """``mfif batch ROOT --out DIR``, with the fusing options of ``mfif fuse``."""
    fusing = fusing_arguments()
    batch = commands.add_parser(
        "batch",
        parents=[common, fusing],
        help="fuse many stacks, one result each, on a Dask cluster",
        description="Fuse every stack under ROOT (a folder of stack folders, or a CSV file with "
        "a 'stack' column and an optional 'output' column) into one file per stack in DIR, with "
        "the options of 'mfif fuse'. Stacks already fused from the same inputs and options are "
        "skipped, so a batch resumes where it stopped. Runs on a local cluster of processes, or "
        "on a running Dask scheduler. Writes DIR/summary.csv; exits with status 3 when a stack "
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
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster)",
    )
    batch.add_argument(
        "--workers",
        type=Option("int", low=1).argument_type(),
        metavar="N",
        help="worker processes of the local cluster (default: one per core, as memory allows)",
    )
    batch.add_argument(
        "--summary", metavar="FILE", help="the summary CSV (default: DIR/summary.csv)"
    )
    batch.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..batching import BatchSettings, batch

    settings = BatchSettings(
        method=args.method,
        options=tuple(sorted(parse_options(args.option).items())),
        align=args.align,
        reference=args.reference,
        crop=not args.no_crop,
        skip_bad_frames=args.skip_bad_frames,
        bit_depth=args.bit_depth,
        metadata=not args.no_metadata,
        upscale=args.upscale,
        degradation=args.degradation,
        enlargement=args.enlargement,
    )
    if args.suffix and args.bit_depth:
        from ..io import check_bit_depth

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
