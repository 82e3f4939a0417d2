"""``mfif metrics``: objective quality metrics of a fused image."""

from __future__ import annotations

import argparse

from ..errors import EXIT_BAD_INPUT, OptionError
from .arguments import say

__all__ = ["add_parser", "run"]


def add_parser(commands, common: argparse.ArgumentParser) -> None:
    """``mfif metrics FUSED --sources ... [--gt GT]``."""
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
        "--report",
        metavar="FILE",
        help="the fusion's report (mfif fuse --report): the sources are aligned and cropped as "
        "the fusion saw them",
    )
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
    metrics.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ..io import read_image
    from ..metrics import METRICS, MetricError, available_metrics, compute, resolve

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
    if args.report:
        sources = _as_fused(args.sources, args.report)
    else:
        sources = [read_image(path)[0] for path in args.sources]
        _check_not_cropped(fused, sources)
    truth = read_image(args.gt)[0] if args.gt else None
    compute([], fused, sources, truth, color=args.color)  # sizes and channels, checked once
    requested = names
    if names is None:
        names = available_metrics(len(sources), truth is not None)
        if len(sources) > 2:
            pairs = len(sources) * (len(sources) - 1) // 2
            left = [name for name, metric in METRICS.items() if metric.kind == "fusion"]
            say(
                f"left out for {len(sources)} sources: {', '.join(left)} (two-source metrics; "
                f"name them with --metrics for the mean over the {pairs} pairs of sources)."
            )
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
            say(f"error: undefined for these images: {detail}.")
            return EXIT_BAD_INPUT
        say(f"left out, undefined for these images: {detail}.")
    return 0


def _as_fused(paths: list[str], report_file: str) -> list:
    """The sources as the fusion saw them: resampled by the report's alignment and cut to its
    crop box."""
    import json
    from pathlib import Path

    from ..io import load_frames
    from ..warp import AlignedFrames, Alignment

    try:
        report = json.loads(Path(report_file).read_text())
    except (OSError, ValueError) as error:
        raise OptionError(f"Cannot read the report {report_file}: {error}.") from None
    if not isinstance(report, dict):
        raise OptionError(f"{report_file} is not a report of mfif fuse --report.")
    with load_frames(paths) as frames:
        if report.get("alignment") is None:
            return [frames[k] for k in range(len(frames))]
        crop = tuple(report["crop"]) if report.get("crop") else False
        aligned = AlignedFrames(frames, Alignment.from_dict(report["alignment"]), crop=crop)
        return [aligned[k] for k in range(len(aligned))]


def _check_not_cropped(fused, sources: list) -> None:
    """A fused image smaller than its sources was cropped by alignment: say how to score it."""
    if sources and all(s.shape[:2] == sources[0].shape[:2] for s in sources):
        (height, width), (source_height, source_width) = fused.shape[:2], sources[0].shape[:2]
        if height < source_height and width < source_width:
            raise OptionError(
                f"The fused image is {width}x{height} and the sources {source_width}x"
                f"{source_height}: alignment cropped it to the region every frame covers. "
                "Give the fusion's report (mfif fuse --report FILE, then --report FILE here) "
                "to score the sources aligned and cropped as the fusion saw them."
            )
