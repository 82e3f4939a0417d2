"""A self-contained HTML report: opens from disk, no server, no network (images are embedded).

Per dataset: a plot of quality against time per method, then for a few scenes the sources,
every method's result, a zoomed crop where the methods disagree most, and the difference
between each result and source A.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..data.scenes import Scene
from ..io import read_image, to_integer
from .runner import Record
from .tables import MethodSummary

__all__ = ["render_html"]

_THUMB = 240  # pixels, longest side
_STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}
h1,h2,h3{font-weight:600} table{border-collapse:collapse;margin:.5em 0}
td,th{padding:2px 6px;border:1px solid #ccc;font-size:12px;text-align:center;vertical-align:top}
img{display:block;image-rendering:pixelated} .name{font-size:12px;margin:2px 0}
.row{display:flex;flex-wrap:wrap;gap:8px} figure{margin:0} figcaption{font-size:11px}
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
    width, height, pad = 560, 300, 50
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
    for method, seconds, value in points:
        x, y = px(math.log10(seconds)), py(value)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#1f6feb"/>')
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" font-size="11">{html.escape(method)}</text>'
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


def _summary_table(rows: Sequence[MethodSummary]) -> str:
    from ..metrics import METRICS

    columns = [c for c in METRICS if any(c in r.means for r in rows)]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    lines = [f"<table><tr><th>method</th>{head}<th>ARank</th><th>s/scene</th></tr>"]
    for row in sorted(rows, key=lambda r: (math.isnan(r.arank), r.arank)):
        cells = "".join(
            f"<td>{row.means[c]:.4g}</td>" if c in row.means else "<td>–</td>" for c in columns
        )
        rank = "–" if math.isnan(row.arank) else f"{row.arank:.2f}"
        seconds = "–" if row.seconds is None else f"{row.seconds:.4f}"
        lines.append(
            f"<tr><td>{html.escape(row.method)}</td>{cells}<td>{rank}</td><td>{seconds}</td></tr>"
        )
    lines.append("</table>")
    return "".join(lines)


def render_html(
    out: Path,
    title: str,
    scenes: Sequence[Scene],
    records: Sequence[Record],
    summaries: dict[str, list[MethodSummary]],
    *,
    scenes_per_dataset: int = 3,
) -> None:
    """report.html as text; fused images are read from ``out``."""
    from ..metrics import METRICS

    body = [f"<h1>{html.escape(title)}</h1>"]
    by_key = {(r.dataset, r.scene, r.method): r for r in records}
    methods = list(dict.fromkeys(r.method for r in records))
    for dataset, rows in summaries.items():
        body.append(f"<h2>{html.escape(dataset)}</h2>")
        body.append(_summary_table(rows))
        quality = next((q for q in ("PSNR", "Q_G", "NMI") if any(q in r.means for r in rows)), None)
        if quality:
            body.append(_plot(rows, quality, METRICS[quality].better))
        shown = [s for s in scenes if s.dataset == dataset][:scenes_per_dataset]
        for scene in shown:
            body.append(f"<h3>{html.escape(scene.name)}</h3>")
            sources = [read_image(p)[0] for p in scene.sources]
            figures = [
                _figure(s, f"source {p.stem}") for s, p in zip(sources, scene.sources, strict=True)
            ]
            if scene.ground_truth:
                figures.append(_figure(read_image(scene.ground_truth)[0], "ground truth"))
            body.append('<div class="row">' + "".join(figures) + "</div>")
            results = {}
            for method in methods:
                record = by_key.get((dataset, scene.name, method))
                if (
                    record
                    and record.status == "ok"
                    and record.result
                    and (out / record.result).exists()
                ):
                    results[method] = read_image(out / record.result)[0]
            if not results:
                continue
            top, left, size = _crop_box(list(results.values()))
            body.append(
                f'<p class="name">Crop: {size}x{size} pixels at ({left}, {top}), where the '
                "results differ most. Difference: result − source A, mid-grey = equal, ×4.</p>"
            )
            body.append(
                "<table><tr><th>method</th><th>result</th><th>crop</th><th>difference</th></tr>"
            )
            for method in methods:
                record = by_key.get((dataset, scene.name, method))
                if method not in results:
                    reason = html.escape(record.error if record and record.error else "no result")
                    body.append(
                        f"<tr><td>{html.escape(method)}</td><td colspan=3>{reason}</td></tr>"
                    )
                    continue
                image = results[method]
                crop = image[top : top + size, left : left + size]
                zoom = cv2.resize(crop, (2 * size, 2 * size), interpolation=cv2.INTER_NEAREST)
                if image.shape == sources[0].shape:
                    difference = np.clip(0.5 + 4.0 * (image - sources[0]), 0.0, 1.0)
                    compared = _figure(difference, "result − A")
                else:  # the scene was aligned and cropped: A is in other coordinates
                    compared = "aligned and cropped: no difference to A"
                body.append(
                    f"<tr><td>{html.escape(method)}</td><td>{_figure(image, method)}</td>"
                    f"<td>{_figure(zoom, 'crop x2', longest=2 * size)}</td><td>{compared}</td></tr>"
                )
            body.append("</table>")
    document = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
    return document
