"""Summaries of benchmark records: per-dataset means, ARank, and the CSV and markdown files."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..metrics import METRICS
from .ranks import average_ranks
from .runner import Record

__all__ = ["MethodSummary", "summarize", "render_csv", "render_markdown"]


@dataclass
class MethodSummary:
    """One method on one dataset: mean of each metric over its successful scenes."""

    method: str
    means: dict[str, float]
    seconds: float | None
    scenes: int
    failed: int
    arank: float = math.nan
    parameters: int | None = None


def metric_columns(records: Sequence[Record]) -> list[str]:
    """Metric names present in the records, in registry order."""
    present = {name for record in records for name in record.metrics}
    return [name for name in METRICS if name in present]


def summarize(
    records: Sequence[Record], parameters: dict[str, int | None] | None = None
) -> dict[str, list[MethodSummary]]:
    """Per dataset, one `MethodSummary` per method (in first-seen order) with ARank filled."""
    parameters = parameters or {}
    columns = metric_columns(records)
    by_dataset: dict[str, dict[str, list[Record]]] = {}
    for record in records:
        by_dataset.setdefault(record.dataset, {}).setdefault(record.method, []).append(record)
    summaries: dict[str, list[MethodSummary]] = {}
    for dataset, by_method in by_dataset.items():
        rows = []
        for method, method_records in by_method.items():
            ok = [r for r in method_records if r.status == "ok"]
            means = {}
            for column in columns:
                values = [r.metrics.get(column) for r in ok]
                values = [v for v in values if v is not None and math.isfinite(v)]
                if values:
                    means[column] = float(np.mean(values))
            times = [r.seconds for r in ok if r.seconds is not None]
            rows.append(
                MethodSummary(
                    method,
                    means,
                    float(np.mean(times)) if times else None,
                    len(method_records),
                    len(method_records) - len(ok),
                    parameters=parameters.get(method),
                )
            )
        directions = {c: METRICS[c].better for c in columns if any(c in r.means for r in rows)}
        ranks = average_ranks({r.method: r.means for r in rows}, directions)
        for row in rows:
            row.arank = ranks[row.method]
        summaries[dataset] = rows
    return summaries


def render_csv(records: Sequence[Record]) -> str:
    """results.csv: one row per (method, scene), one column per metric (registry names)."""
    columns = metric_columns(records)
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(["dataset", "scene", "method", "status", "seconds", *columns, "error"])
    for r in records:
        values = [_plain(r.metrics.get(c)) for c in columns]
        seconds = "" if r.seconds is None else f"{r.seconds:.6f}"
        writer.writerow([r.dataset, r.scene, r.method, r.status, seconds, *values, r.error or ""])
    return handle.getvalue()


def _plain(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _format(value: float, metric: str) -> str:
    if metric == "PSNR":
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.4f}"


def _best(rows: Sequence[MethodSummary], metric: str) -> set[str]:
    values = {r.method: r.means[metric] for r in rows if metric in r.means}
    if not values:
        return set()
    better = METRICS[metric].better
    key = {"higher": lambda v: -v, "lower": lambda v: v, "zero": abs}[better]
    target = min(key(v) for v in values.values())
    return {m for m, v in values.items() if key(v) == target}


def render_markdown(
    summaries: dict[str, list[MethodSummary]], title: str, *, setting: str | None = None
) -> str:
    """summary.md: per dataset, the mean of each metric per method (best in bold), ARank,
    time and parameters; ``setting``, a sentence on how the scenes were used (×s, their
    degradation), goes under the title."""
    lines = [f"# {title}", ""]
    if setting:
        lines += [setting, ""]
    lines.append(
        "Mean over the scenes of each dataset; **bold** is the best per metric (↑ higher, "
        "↓ lower, →0 closest to zero is better). ARank: mean over metrics of the method's rank "
        "(1 = best), as UDPNet defines it. s/scene: mean fusion time in this process (external "
        "programs include their start-up). Parameters: learned parameters (0 for classical "
        "methods, – for external programs)."
    )
    for dataset, rows in summaries.items():
        columns = [c for c in METRICS if any(c in r.means for r in rows)]
        arrows = {"higher": "↑", "lower": "↓", "zero": "→0"}
        scenes = max(r.scenes for r in rows)
        lines += ["", f"## {dataset} ({scenes} scenes)", ""]
        header = [f"{c} {arrows[METRICS[c].better]}" for c in columns]
        lines.append("| method | " + " | ".join(header) + " | ARank ↓ | s/scene | parameters |")
        lines.append("|---" * (len(columns) + 4) + "|")
        best = {c: _best(rows, c) for c in columns}
        best_rank = min((r.arank for r in rows if not math.isnan(r.arank)), default=math.nan)
        for row in sorted(rows, key=lambda r: (math.isnan(r.arank), r.arank)):
            cells = []
            for c in columns:
                if c not in row.means:
                    cells.append("–")
                    continue
                text = _format(row.means[c], c)
                cells.append(f"**{text}**" if row.method in best[c] else text)
            rank = "–" if math.isnan(row.arank) else f"{row.arank:.2f}"
            if row.arank == best_rank:
                rank = f"**{rank}**"
            seconds = "–" if row.seconds is None else f"{row.seconds:.4f}"
            params = "–" if row.parameters is None else f"{row.parameters:,}"
            name = row.method if not row.failed else f"{row.method} ({row.failed} failed)"
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {rank} | {seconds} | {params} |")
    if any("Q_Y" in r.means for rows in summaries.values() for r in rows):
        lines += [
            "",
            "Q_Y, as in the canonical code (C = 2e-16), divides floating-point noise by noise in "
            "windows where both sources are flat (saturated or black areas); values far outside "
            "[0, 1] there make its mean unreliable on such sets (metrics-reference NOTES, "
            "pitfall 2). It still counts in ARank, as in the papers.",
        ]
    return "\n".join(lines) + "\n"
