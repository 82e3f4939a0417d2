"""A self-contained HTML report: opens from disk, no server, no network (images are embedded).

At the top, where it came from: mfif's version, the command, the date and the machine. Per
dataset: the mean of every metric per method (the best of each column in bold) with its
parameter count and time, a plot of quality against time, and the main metric per scene (the
best of each scene in bold). Then for a few scenes: the sources and the ground truth; every
method's result, a zoomed crop where the methods disagree most, and its error map against the
ground truth (or its difference to source A without one); and an A/B view of two results'
crops (a slider and a swap button; the same zoom for both).
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..data.scenes import Scene
from ..io import read_image, to_integer
from .runner import Record
from .tables import MethodSummary

__all__ = ["render_html"]

_THUMB = 320  # pixels, longest side
_STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}
h1,h2,h3{font-weight:600} table{border-collapse:collapse;margin:.5em 0}
td,th{padding:2px 6px;border:1px solid #ccc;font-size:12px;text-align:center;vertical-align:top}
img{display:block;image-rendering:pixelated} .name{font-size:12px;margin:2px 0}
.row{display:flex;flex-wrap:wrap;gap:8px} figure{margin:0} figcaption{font-size:11px}
td.best{font-weight:700;background:#e8f2e8} .provenance{font-size:12px;color:#555}
.ab{display:inline-block;margin:.5em 0} .ab .frame{position:relative;overflow:hidden}
.ab .frame img{position:absolute;top:0;left:0} .ab .frame img.a-img{position:relative}
.ab .controls{font-size:12px;margin:4px 0}
"""

_SCRIPT = """
function abUpdate(id) {
  const view = document.getElementById(id);
  const crops = JSON.parse(view.querySelector('script').textContent);
  const a = view.querySelector('.a-select').value, b = view.querySelector('.b-select').value;
  const split = view.querySelector('.slider').value, zoom = view.querySelector('.zoom').value;
  for (const [name, img] of [[a, view.querySelector('.a-img')], [b, view.querySelector('.b-img')]]) {
    img.src = crops[name];
    img.style.width = (zoom * img.dataset.side) + 'px';
  }
  view.querySelector('.b-img').style.clipPath = 'inset(0 0 0 ' + split + '%)';
  const side = view.querySelector('.a-img').dataset.side;
  view.querySelector('.slider').style.width = (zoom * side) + 'px';
  view.dataset.state = a + '|' + b + '|' + split + '|' + zoom;
}
function abSwap(id) {
  const view = document.getElementById(id);
  const first = view.querySelector('.a-select'), second = view.querySelector('.b-select');
  [first.value, second.value] = [second.value, first.value];
  abUpdate(id);
}
"""


def _data_uri(image: np.ndarray, *, longest: int = _THUMB) -> str:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    scale = longest / max(image.shape[:2])
    if scale < 1:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    pixels = to_integer(image, 8)
    if pixels.ndim == 3:
        pixels = pixels[..., ::-1]  # RGB to OpenCV's BGR
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(pixels), [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("could not encode a thumbnail")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def _figure(image: np.ndarray, caption: str, *, longest: int = _THUMB) -> str:
    return (
        f'<figure><img src="{_data_uri(image, longest=longest)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _crop_box(results: Sequence[np.ndarray]) -> tuple[int, int, int]:
    """(top, left, size) of the square where the results differ most."""
    height, width = results[0].shape[:2]
    size = max(16, min(height, width) // 6)
    grey = np.stack([r.mean(axis=2) if r.ndim == 3 else r for r in results])
    spread = (
        grey.std(axis=0).astype(np.float32)
        if len(results) > 1
        else np.zeros((height, width), np.float32)
    )
    energy = cv2.boxFilter(spread, -1, (size, size), normalize=True, borderType=cv2.BORDER_REFLECT)
    half = size // 2
    inner = energy[half : height - half or None, half : width - half or None]
    if inner.size == 0:
        return 0, 0, min(height, width)
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(y), int(x), size


def _plot(rows: Sequence[MethodSummary], quality: str, better: str) -> str:
    """Inline SVG scatter of quality against seconds per scene (log scale)."""
    points = [(r.method, r.seconds, r.means.get(quality)) for r in rows]
    points = [(m, s, q) for m, s, q in points if s and q is not None and math.isfinite(q)]
    if not points:
        return "<p>No timed results to plot.</p>"
    width, height, pad = 760, 340, 60
    xs = [math.log10(s) for _, s, _ in points]
    ys = [q for _, _, q in points]
    x_low, x_high = min(xs) - 0.2, max(xs) + 0.2
    y_span = (max(ys) - min(ys)) or 1.0
    y_low, y_high = min(ys) - 0.1 * y_span, max(ys) + 0.1 * y_span

    def px(x: float) -> float:
        return pad + (x - x_low) / (x_high - x_low) * (width - 2 * pad)

    def py(y: float) -> float:
        return height - pad - (y - y_low) / (y_high - y_low) * (height - 2 * pad)

    parts = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    parts.append(
        f'<rect x="{pad}" y="{pad}" width="{width - 2 * pad}" height="{height - 2 * pad}" fill="none" stroke="#999"/>'
    )
    for exponent in range(math.floor(x_low), math.ceil(x_high) + 1):
        if x_low <= exponent <= x_high:
            x = px(exponent)
            parts.append(
                f'<line x1="{x:.1f}" y1="{height - pad}" x2="{x:.1f}" y2="{height - pad + 5}" stroke="#999"/>'
            )
            parts.append(
                f'<text x="{x:.1f}" y="{height - pad + 18}" font-size="11" text-anchor="middle">{10.0**exponent:g} s</text>'
            )
    for fraction in (0.0, 0.5, 1.0):
        value = y_low + fraction * (y_high - y_low)
        parts.append(
            f'<text x="{pad - 6}" y="{py(value) + 4:.1f}" font-size="11" text-anchor="end">{value:.3g}</text>'
        )
    placed: list[tuple[float, float]] = []  # label positions so far, kept 13 px apart
    for method, seconds, value in sorted(points, key=lambda p: -p[2]):
        x, y = px(math.log10(seconds)), py(value)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#1f6feb"/>')
        label_y = y + 4
        while any(
            abs(label_y - other_y) < 13 and abs(x - other_x) < 160 for other_x, other_y in placed
        ):
            label_y += 13
        placed.append((x, label_y))
        right = x > width - pad - 150  # near the right edge: the label goes to the left
        anchor, label_x = ("end", x - 7) if right else ("start", x + 7)
        parts.append(
            f'<text x="{label_x:.1f}" y="{label_y:.1f}" font-size="11" text-anchor="{anchor}">'
            f"{html.escape(method)}</text>"
        )
    arrow = {
        "higher": "higher is better",
        "lower": "lower is better",
        "zero": "closer to 0 is better",
    }[better]
    parts.append(
        f'<text x="{width / 2}" y="{height - 8}" font-size="12" text-anchor="middle">seconds per scene (log)</text>'
    )
    parts.append(
        f'<text x="12" y="{pad - 14}" font-size="12">{html.escape(quality)} ({arrow})</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _best_cells(values: Sequence[float | None], better: str) -> list[bool]:
    """Which of ``values`` are the best (ties too), for a metric where ``better`` holds."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    if not known:
        return [False] * len(values)
    key = {"higher": max, "lower": min}.get(better)
    best = key(known) if key else min(known, key=abs)
    return [v is not None and math.isfinite(v) and abs(v - best) < 1e-12 for v in values]


def _summary_table(rows: Sequence[MethodSummary]) -> str:
    from ..metrics import METRICS

    rows = sorted(rows, key=lambda r: (math.isnan(r.arank), r.arank))
    columns = [c for c in METRICS if any(c in r.means for r in rows)]
    best = {c: _best_cells([r.means.get(c) for r in rows], METRICS[c].better) for c in columns}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    lines = [
        f"<table><tr><th>method</th><th>parameters</th>{head}<th>ARank</th><th>s/scene</th></tr>"
    ]
    for index, row in enumerate(rows):
        cells = "".join(
            ('<td class="best">' if best[c][index] else "<td>") + f"{row.means[c]:.4g}</td>"
            if c in row.means
            else "<td>–</td>"
            for c in columns
        )
        rank = "–" if math.isnan(row.arank) else f"{row.arank:.2f}"
        seconds = "–" if row.seconds is None else f"{row.seconds:.4f}"
        parameters = "–" if not row.parameters else f"{row.parameters:,}"
        lines.append(
            f"<tr><td>{html.escape(row.method)}</td><td>{parameters}</td>{cells}"
            f"<td>{rank}</td><td>{seconds}</td></tr>"
        )
    lines.append("</table>")
    return "".join(lines)


def _scene_table(
    dataset: str, scene_names: Sequence[str], methods: Sequence[str], by_key: dict, metric: str
) -> str:
    """``metric`` per scene (rows) and method (columns), the best of each scene in bold."""
    from ..metrics import METRICS

    head = "".join(f"<th>{html.escape(m)}</th>" for m in methods)
    lines = [f'<p class="name">{html.escape(metric)} per scene</p>']
    lines.append(f"<table><tr><th>scene</th>{head}</tr>")
    for name in scene_names:
        values = []
        for method in methods:
            record = by_key.get((dataset, name, method))
            values.append(record.metrics.get(metric) if record and record.status == "ok" else None)
        best = _best_cells(values, METRICS[metric].better)
        cells = "".join(
            ('<td class="best">' if is_best else "<td>")
            + ("–" if value is None else f"{value:.4g}")
            + "</td>"
            for value, is_best in zip(values, best, strict=True)
        )
        lines.append(f"<tr><td>{html.escape(name)}</td>{cells}</tr>")
    lines.append("</table>")
    return "".join(lines)


def _provenance(command: str | None) -> str:
    from .._version import __version__

    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform(terse=True)}"
    parts = [f"mfif {__version__}", f"made {when}", f"on {machine}"]
    if command:
        parts.insert(1, f"command: <code>{html.escape(command)}</code>")
    return '<p class="provenance">' + " · ".join(parts) + "</p>"


def _error_map(image: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """|image − truth| on luminance, ×8, colour-mapped (black: no error), RGB in [0, 1]."""
    from ..color import luminance

    error = np.abs(luminance(image) - luminance(truth)) * 8.0
    levels = np.clip(error * 255, 0, 255).astype(np.uint8)
    return cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO)[..., ::-1].astype(np.float32) / 255


def _ab_view(view_id: str, crops: dict[str, np.ndarray], side: int) -> str:
    """Two crops over each other, split by a slider, with a swap button and one zoom."""
    uris = {name: _data_uri(crop, longest=side) for name, crop in crops.items()}
    names = list(uris)
    first, second = names[0], names[1] if len(names) > 1 else names[0]

    def options(chosen: str) -> str:
        return "".join(
            f"<option{' selected' if n == chosen else ''}>{html.escape(n)}</option>" for n in names
        )

    update = f"abUpdate('{view_id}')"
    return (
        f'<div class="ab" id="{view_id}" data-state="">'
        f'<script type="application/json">{json.dumps(uris)}</script>'
        f'<div class="controls">A <select class="a-select" onchange="{update}">{options(first)}'
        f'</select> B <select class="b-select" onchange="{update}">{options(second)}</select> '
        f'<button class="swap" onclick="abSwap(\'{view_id}\')">swap A/B</button> zoom '
        f'<select class="zoom" onchange="{update}"><option>1</option><option>2</option>'
        f"<option selected>4</option></select></div>"
        f'<div class="frame"><img class="a-img" data-side="{side}" alt="A">'
        f'<img class="b-img" data-side="{side}" alt="B"></div>'
        f'<input class="slider" type="range" min="0" max="100" value="50" '
        f'oninput="{update}" style="width:100%"></div>'
    )


def render_html(
    out: Path,
    title: str,
    scenes: Sequence[Scene],
    records: Sequence[Record],
    summaries: dict[str, list[MethodSummary]],
    *,
    scenes_per_dataset: int = 3,
    command: str | None = None,
) -> str:
    """report.html as text; fused images are read from ``out``; ``command`` is the command
    line that made the benchmark (for the provenance line)."""
    from ..metrics import METRICS

    body = [f"<h1>{html.escape(title)}</h1>", _provenance(command)]
    by_key = {(r.dataset, r.scene, r.method): r for r in records}
    methods = list(dict.fromkeys(r.method for r in records))
    for dataset, rows in summaries.items():
        body.append(f"<h2>{html.escape(dataset)}</h2>")
        body.append(_summary_table(rows))
        quality = next((q for q in ("PSNR", "Q_G", "NMI") if any(q in r.means for r in rows)), None)
        if quality:
            body.append(_plot(rows, quality, METRICS[quality].better))
            names = list(dict.fromkeys(r.scene for r in records if r.dataset == dataset))
            present = [m for m in methods if any((dataset, n, m) in by_key for n in names)]
            body.append(_scene_table(dataset, names, present, by_key, quality))
        shown = [s for s in scenes if s.dataset == dataset][:scenes_per_dataset]
        for number, scene in enumerate(shown):
            body.append(_scene_section(out, scene, methods, by_key, f"ab-{dataset}-{number}"))
    document = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script>{_SCRIPT}</script></head>"
        "<body onload=\"document.querySelectorAll('.ab').forEach(v => abUpdate(v.id))\">"
        + "\n".join(body)
        + "</body></html>\n"
    )
    return document


def _scene_section(out: Path, scene: Scene, methods: Sequence[str], by_key: dict, view: str) -> str:
    """One scene: its sources and truth, each result with a crop and its error map, and the
    A/B view of the crops."""
    parts = [f"<h3>{html.escape(scene.name)}</h3>"]
    sources = [read_image(p)[0] for p in scene.sources]
    truth = read_image(scene.ground_truth)[0] if scene.ground_truth else None
    figures = [_figure(s, f"source {p.stem}") for s, p in zip(sources, scene.sources, strict=True)]
    if truth is not None:
        figures.append(_figure(truth, "ground truth"))
    parts.append('<div class="row">' + "".join(figures) + "</div>")
    results = {}
    for method in methods:
        record = by_key.get((scene.dataset, scene.name, method))
        if record and record.status == "ok" and record.result and (out / record.result).exists():
            results[method] = read_image(out / record.result)[0]
    if not results:
        return "".join(parts)
    top, left, size = _crop_box(list(results.values()))
    against_truth = truth is not None and all(r.shape == truth.shape for r in results.values())
    compared_to = "error against the ground truth, ×8" if against_truth else "result − A, ×4"
    parts.append(
        f'<p class="name">Crop: {size}x{size} pixels at ({left}, {top}), where the results differ '
        f"most. Last column: {compared_to} (black, or mid-grey for the difference: equal).</p>"
    )
    parts.append("<table><tr><th>method</th><th>result</th><th>crop</th><th>compared</th></tr>")
    crops = {}
    for method in methods:
        record = by_key.get((scene.dataset, scene.name, method))
        if method not in results:
            if record is not None and record.result is None and record.status == "ok":
                continue  # a baseline without an image (the best single source)
            reason = html.escape(record.error if record and record.error else "no result")
            parts.append(f"<tr><td>{html.escape(method)}</td><td colspan=3>{reason}</td></tr>")
            continue
        image = results[method]
        crops[method] = image[top : top + size, left : left + size]
        zoom = cv2.resize(crops[method], (2 * size, 2 * size), interpolation=cv2.INTER_NEAREST)
        if against_truth:
            compared = _figure(_error_map(image, truth), "error ×8")
        elif image.shape == sources[0].shape:
            compared = _figure(np.clip(0.5 + 4.0 * (image - sources[0]), 0.0, 1.0), "result − A")
        else:  # the scene was aligned and cropped: A is in other coordinates
            compared = "aligned and cropped: no difference to A"
        parts.append(
            f"<tr><td>{html.escape(method)}</td><td>{_figure(image, method)}</td>"
            f"<td>{_figure(zoom, 'crop x2', longest=2 * size)}</td><td>{compared}</td></tr>"
        )
    if against_truth:
        crop = truth[top : top + size, left : left + size]
        zoom = cv2.resize(crop, (2 * size, 2 * size), interpolation=cv2.INTER_NEAREST)
        parts.append(
            f"<tr><td>ground truth</td><td>{_figure(truth, 'ground truth')}</td>"
            f"<td>{_figure(zoom, 'crop x2', longest=2 * size)}</td><td></td></tr>"
        )
        crops["ground truth"] = crop
    parts.append("</table>")
    parts.append('<p class="name">A/B: two crops over each other; drag the slider.</p>')
    parts.append(_ab_view(view, crops, size))
    return "".join(parts)
