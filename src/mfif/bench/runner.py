"""Running every method on every scene, with a per-(method, version, scene) cache.

Layout inside the output folder::

    images/<dataset>/<scene>/<method>.png     fused results
    cache/<method>-<version>/<dataset>/<scene>.json   time, metrics, status of one run

A method's version is a hash of its name, options, the source code of its module and, for
learned methods, its weights, so editing a method recomputes only that method. A scene's inputs
are hashed too. A rerun reads what it can from the cache and computes only what changed or what
is missing (e.g. a newly requested metric).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import align as align_module
from .. import resample as resample_module
from .. import warp as warp_module
from ..data.scenes import Scene
from ..errors import MfifError
from ..frames import ArrayFrames, FrameSource
from ..fusion import Fuser
from ..io import load_stack, read_image, save_image
from ..metrics import METRICS, MetricError, available_metrics, resolve
from ..outputs import replace_atomically
from ..pipeline import Pipeline
from ..scoring import region_masks, score_fused
from ..stack import Stack

__all__ = ["BEST_SOURCE", "DEFAULT_METRICS", "Record", "method_version", "run_benchmark"]

_logger = logging.getLogger(__name__)

# UDPNet's ten metrics for stacks without ground truth (Table II), plus PSNR and SSIM with it.
DEFAULT_METRICS = (
    "PSNR",
    "SSIM",
    "NMI",
    "Q_NCIE",
    "MI",
    "Q_G",
    "Q_M",
    "Q_P",
    "Q_C",
    "Q_Y",
    "Q_CB",
    "VIFF",
)


@dataclass
class Record:
    """One method on one scene."""

    dataset: str
    scene: str
    method: str
    status: str  # "ok" or "failed"
    seconds: float | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None
    result: str | None = None  # path of the fused image, relative to the output folder


BEST_SOURCE = "best single source"  # the baseline record of each scene with a ground truth


def _best_single_source(scene, references, truth, usable, regions) -> Record:
    """The aligned source closest to the truth (PSNR), scored as a method would be."""
    from ..metrics import psnr

    frames = list(references.images)
    best = max(frames, key=lambda frame: psnr(frame, truth))
    record = Record(scene.dataset, scene.name, BEST_SOURCE, "ok")
    record.metrics.update(score_fused(best, frames, truth, usable, regions=regions))
    return record


def _scaled_version(scale: int, degradation: str) -> str:
    """What a cache key adds for ×``scale`` under ``degradation`` (nothing more for the
    default Lanczos-2, so that earlier caches stay valid)."""
    return f"-x{scale}" + ("" if degradation == "lanczos2" else f"-{degradation}")


def method_version(fuser: Fuser) -> str:
    """Short hash identifying a method's behaviour: name, options, module source, weights,
    and the enlargement's source (`mfif.resample`) for a result made larger."""
    inner = getattr(fuser, "inner", None)
    if isinstance(inner, Fuser):  # a method followed by interpolation
        scaled = _scaled_version(fuser.scale, fuser.degradation)
        back_projected = fuser.interpolation in ("back-projection", "learned")
        enlargement = f"-{_ENLARGEMENT_VERSION}" if back_projected else ""
        return method_version(inner) + f"-{fuser.interpolation}{scaled}{enlargement}"
    digest = hashlib.sha256(fuser.name.encode())
    options = {
        k: v
        for k, v in vars(fuser).items()
        if isinstance(v, (str, int, float, bool, tuple, list, type(None)))
    }
    digest.update(repr(sorted(options.items())).encode())
    module = inspect.getmodule(type(fuser))
    if module is not None and getattr(module, "__file__", None):
        digest.update(Path(module.__file__).read_bytes())
    weights = getattr(fuser, "weights_sha256", None)
    if weights:
        digest.update(str(weights).encode())
    if getattr(fuser, "super_resolves", False) and getattr(fuser, "scale", 1) != 1:
        digest.update(_ENLARGEMENT_VERSION.encode())  # its start is back-projected
    return digest.hexdigest()[:12]


def _enlargement_version() -> str:
    """The back-projected enlargement's code, and the learned start's code and shipped
    weights: a change to them recomputes every enlarged result."""
    from .. import learned_start as learned_start_module
    from ..weights import pretrained_config

    package = Path(resample_module.__file__).parent
    digest = hashlib.sha256()
    for source in ("resample.py", "learned_start.py", "models/enlarger.py"):  # not imported:
        digest.update((package / source).read_bytes())  # the network's imports torch
    config = pretrained_config(learned_start_module.PRETRAINED)
    digest.update((config.sha256 if config else "untrained").encode())
    return digest.hexdigest()[:8]


_ENLARGEMENT_VERSION = _enlargement_version()


# Scenes are aligned before fusing: a change to the alignment code recomputes every scene.
_ALIGNMENT_VERSION = hashlib.sha256(
    b"".join(Path(module.__file__).read_bytes() for module in (align_module, warp_module))
).hexdigest()[:8]


def _scene_version(scene: Scene) -> str:
    digest = hashlib.sha256()
    for path in (*scene.sources, *([scene.ground_truth] if scene.ground_truth else [])):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run_benchmark(
    scenes: Sequence[Scene],
    methods: Sequence[str] | Mapping[str, Pipeline],
    out: str | Path,
    *,
    metrics: Sequence[str] | None = None,
    use_cache: bool = True,
    progress: bool = True,
    align: str = "auto",
    scale: int = 1,
    best_source: bool = True,
    degradation: str = "lanczos2",
) -> tuple[list[Record], list[str]]:
    """Run ``methods`` on ``scenes``; return the records and one sentence per skipped scene.

    With ``scale`` s > 1 it benchmarks fusion with super-resolution: each scene with a ground
    truth is cut to a multiple of s, its sources downsampled by s under ``degradation``
    (`mfif.resample.downsample`, clipped to [0, 1]), and the methods (told that model,
    `benchmark_pipelines`) return an image s times larger. The reference is the full-resolution
    truth; metrics that compare with the sources use the full-resolution sources. Scenes
    without a ground truth are skipped.

    Every scene goes through the pipelines' alignment stage once (``align``, default "auto",
    which leaves registered stacks untouched; pipelines given by the caller must share their
    alignment settings); every method's pipeline then fuses the aligned stack, which it is
    scored against (`mfif.scoring.score_fused`). A method that raises on a scene is recorded as
    failed and the run goes on; a scene whose images cannot form a stack (unreadable file, size
    mismatch, frames that cannot be registered) is reported and skipped.

    With ``best_source``, each scene with a ground truth at its scale also gets a record of
    the baseline `BEST_SOURCE`, the aligned source closest to the truth, scored likewise.
    """
    out = Path(out)
    wanted = [resolve(name) for name in (metrics or DEFAULT_METRICS)]
    if isinstance(methods, Mapping):  # built by the caller
        pipelines = dict(methods)
    else:
        pipelines = {name: Pipeline(name, align=align) for name in methods}
    settings = {(p.align_mode, p.reference, p.alignment) for p in pipelines.values()}
    if len(settings) > 1:
        raise ValueError("The benchmarked pipelines must share their alignment settings.")
    methods = list(pipelines)
    aligner = next(iter(pipelines.values()))  # every pipeline aligns the same way
    versions = {name: method_version(p.fuser) for name, p in pipelines.items()}
    records: list[Record] = []
    problems: list[str] = []
    left_out: set[str] = set()
    jobs = [(scene, name) for scene in scenes for name in methods]
    from ..progress import progress_bar

    bar = progress_bar(total=len(jobs), label="bench", unit="run", enabled=progress, leave=True)
    for scene in scenes:
        try:
            scene_version = f"{_scene_version(scene)}-align-{align}-{_ALIGNMENT_VERSION}"
            if scale > 1:
                scene_version += _scaled_version(scale, degradation)
                if scene.ground_truth is None:
                    raise MfifError(f"×{scale} needs a ground truth and this scene has none.")
            stack = _aligned_scene(aligner, scene)
            truth = read_image(scene.ground_truth)[0] if scene.ground_truth else None
            references = stack.materialise()
            if scale > 1:
                stack, references, truth = _downsampled(references, truth, scale, degradation)
        except (MfifError, OSError) as error:  # the scene itself is unusable
            problems.append(f"{scene.key}: {error}")
            bar.update(len(methods))
            continue
        # The default metrics leave out the two-source ones on larger stacks (a pass per
        # pair of sources); named with --metrics, they are the mean over the pairs.
        usable = available_metrics(
            references.count, truth is not None, among=wanted, pairs=metrics is not None
        )
        left_out.update(m for m in wanted if m not in usable and METRICS[m].kind == "fusion")
        regions = _regions(scene, truth, scale)
        usable += [m for m in regions if metrics is None or m in wanted]
        for name in methods:
            bar.set_postfix_str(f"{scene.key} {name}", refresh=False)
            cache_file = (
                out / "cache" / f"{name}-{versions[name]}" / scene.dataset / f"{scene.name}.json"
            )
            cached = _read_cache(cache_file, scene_version) if use_cache else None
            record = _run_one(
                scene, name, pipelines[name], stack, references, truth, usable, out, cached,
                regions,
            )  # fmt: skip
            _write_cache(cache_file, scene_version, record)
            records.append(record)
            bar.update(1)
        if best_source and truth is not None and scale == 1:
            records.append(_best_single_source(scene, references, truth, usable, regions))
    bar.close()
    if left_out:
        _logger.warning(
            "%s left out on the stacks of more than 2 sources: two-source metrics, which cost a "
            "pass per pair of sources there; name them with --metrics for the mean over the "
            "pairs.",
            ", ".join(m for m in wanted if m in left_out),
        )
    return records, problems


def _aligned_scene(aligner: Pipeline, scene: Scene) -> FrameSource:
    """The scene's frames after the alignment stage, in memory; for a scene ``mfif synth``
    moved, in the reference frame's coordinates and cut to the region its ground truth
    covers. Resampled frames are held with the frames as stored, on which methods measure
    focus (`mfif.frames.FrameSource.measured`), as ``mfif fuse`` does."""
    stack = load_stack(scene.sources)
    if scene.misalignment is None:
        return aligner.align(stack)[0]
    box = tuple(int(side) for side in scene.misalignment["crop"])
    aligned, _ = aligner.align(stack, crop=box)
    if aligned.size == box[2:]:
        return aligned
    top, left, height, width = box  # left untouched (`auto` found no motion): cut it here
    images = aligned.materialise().images[:, top : top + height, left : left + width]
    return ArrayFrames(replace(stack, images=np.ascontiguousarray(images), valid=None))


def _downsampled(
    stack: Stack, truth: np.ndarray, scale: int, degradation: str
) -> tuple[Stack, Stack, np.ndarray]:
    """(low-resolution stack, full-resolution stack, truth), both full-resolution ones cut to
    a multiple of ``scale``."""
    from ..resample import downsample

    height, width = (side - side % scale for side in stack.size)
    if truth.shape[:2] != stack.size:
        raise MfifError(
            f"the ground truth is {truth.shape[1]}x{truth.shape[0]} but the sources are "
            f"{stack.size[1]}x{stack.size[0]}."
        )
    if min(height, width) < 4 * scale:
        raise MfifError(f"the images are too small to downsample ×{scale}.")
    full = np.ascontiguousarray(stack.images[:, :height, :width])
    low = np.stack([np.clip(downsample(image, scale, degradation), 0.0, 1.0) for image in full])
    return (
        replace(stack, images=low.astype(np.float32), valid=None),
        replace(stack, images=full, valid=None),
        np.ascontiguousarray(truth[:height, :width]),
    )


def _regions(scene: Scene, truth: np.ndarray | None, scale: int) -> dict[str, np.ndarray]:
    """The labelled regions of a scene (LABELS, in the truth's coordinates) by metric name."""
    if scene.labels is None or truth is None or scale > 1:
        return {}
    labels = np.rint(read_image(scene.labels)[0] * 255).astype(np.uint8)
    labels = labels if labels.ndim == 2 else labels[..., 0]
    return region_masks(labels) if labels.shape == truth.shape[:2] else {}


def _run_one(
    scene, name, pipeline, stack, references, truth, usable, out, cached, regions
) -> Record:
    result_path = Path("images") / scene.dataset / scene.name / f"{name}.png"
    if cached and cached.status == "failed":
        return cached
    if cached and (out / result_path).exists():
        record = cached
        image = None
    else:
        record = Record(scene.dataset, scene.name, name, "ok", result=str(result_path))
        started = time.perf_counter()
        try:
            fusion = pipeline.fuse(stack)
        except Exception as error:  # noqa: BLE001 - any failure of a method is recorded
            record.status, record.error = "failed", f"{type(error).__name__}: {error}"
            _logger.warning("%s failed on %s: %s", name, scene.key, error)
            return record
        record.seconds = time.perf_counter() - started
        image = fusion.image
        (out / result_path).parent.mkdir(parents=True, exist_ok=True)
        save_image(out / result_path, image, bit_depth=stack.bit_depth)
    missing = [m for m in usable if m not in record.metrics]
    if missing:
        if image is None:
            image = read_image(out / result_path)[0]
        for metric in missing:
            try:
                record.metrics.update(
                    score_fused(image, list(references.images), truth, [metric], regions=regions)
                )
            except MetricError as error:
                record.metrics[metric] = None
                _logger.warning("%s of %s on %s: %s", metric, name, scene.key, error)
    return record


def _read_cache(path: Path, scene_version: str) -> Record | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("scene_version") != scene_version:
        return None
    data.pop("scene_version")
    return Record(**data)


def _write_cache(path: Path, scene_version: str, record: Record) -> None:
    text = json.dumps({"scene_version": scene_version, **record.__dict__}, indent=1)
    replace_atomically(path, lambda temporary: temporary.write_text(text))
