"""DFP's bars: ×1 against guided-decision, ×s against every fast method + bicubic / + Lanczos,
and the ablations (no decision embedding, no L_jgrad, noise input, the paper's non-residual
generator), on held-out ground-truth stacks made with `mfif synth` (`_heldout.make_sets`).

At ×s the sources are the ground-truth stack downsampled by s (`--degradation`, Lanczos-2 by
default; clipped to [0, 1], as `mfif bench --scale` does) and the reference is the
full-resolution truth; DFP's relative metrics compare with the full-resolution sources. DFP and
back-projection are told the same model, or `--model` (to measure a wrong one).

    .venv/bin/python benchmarks/dfp.py --sets pascal-mask davis-mask --limit 12 --scales 1 2 \
        --variants default no-embedding no-joint-gradient noise-input paper-generator \
        --json build/dfp-bench.json

DFP fits two networks per stack: about a minute per 0.25-megapixel output on 2 cores, so
``--limit`` keeps a run within a session.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import mfif
from mfif.pipeline import Pipeline
from mfif.resample import check_degradation, downsample
from mfif.scoring import score_fused
from mfif.stack import Stack
from mfif.upscaling import UpscaledFuser, interpolations_for

from _common import require_shared
from _heldout import make_sets

VARIANTS = {
    "default": {},
    "no-embedding": {"embedding": False},
    "no-joint-gradient": {"joint_gradient": False},
    "noise-input": {"input": "noise"},
    "paper-generator": {"residual": False},
    "lanczos-start": {"base": "back-projection"},  # dataset-free: back-projection from Lanczos
    "learned-start": {"base": "learned"},  # from the learned ×2 start (×2 only)
}
METRICS = ["PSNR", "SSIM", "RMG", "REI", "RIE", "RMGA", "RECO"]


def downsampled_case(
    sources: np.ndarray, truth: np.ndarray, scale: int, degradation: str = "lanczos2"
) -> tuple:
    """(low-resolution sources, full-resolution sources, truth), cut to a multiple of s."""
    height, width = (side - side % scale for side in truth.shape[:2])
    full = np.ascontiguousarray(sources[:, :height, :width])
    low = (
        np.stack([np.clip(downsample(s, scale, degradation), 0, 1) for s in full])
        if scale > 1
        else full
    )
    return low.astype(np.float32), full, np.ascontiguousarray(truth[:height, :width])


def fusers_for(scale: int, variants: list[str], baselines: list[str], model: str) -> dict:
    """DFP's variants and the baselines; ``model`` is the degradation they are told."""
    fusers = {
        f"dfp {name}": mfif.create("dfp", scale=scale, degradation=model, **VARIANTS[name])
        for name in variants
    }
    for name in baselines:
        if scale == 1:
            fusers[name] = mfif.create(name)
        else:
            for interpolation in interpolations_for(scale):
                fuser = UpscaledFuser(mfif.create(name), scale, interpolation, model)
                fusers[fuser.name] = fuser
    return fusers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["pascal-mask", "davis-mask"])
    parser.add_argument("--limit", type=int, default=12, help="scenes per set")
    parser.add_argument("--skip", type=int, default=0, help="scenes skipped first per set")
    parser.add_argument("--scales", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--variants", nargs="+", default=["default"], choices=list(VARIANTS))
    parser.add_argument(
        "--baselines",
        default=",".join(mfif.list_methods(include_external=False, include_slow=False)),
    )
    parser.add_argument(
        "--degradation",
        type=check_degradation,
        default="lanczos2",
        help="how the low-resolution sources are made (mfif.resample.DEGRADATIONS)",
    )
    parser.add_argument(
        "--model",
        type=check_degradation,
        help="the degradation dfp and back-projection are told (default: --degradation)",
    )
    parser.add_argument("--json", type=Path, help="also write every score here")
    parser.add_argument("--images", type=Path, help="write each result as PNG here")
    args = parser.parse_args()
    sets = make_sets(require_shared())
    baselines = [b for b in args.baselines.split(",") if b]
    results: dict = {}
    for scale in args.scales:
        fusers = fusers_for(scale, args.variants, baselines, args.model or args.degradation)
        for set_name in args.sets:
            rows: dict[str, list[dict]] = {name: [] for name in fusers}
            scenes = sets[set_name][args.skip : args.skip + args.limit]
            if not scenes:
                count = len(sets[set_name])
                print(f"{set_name} has {count} scenes: none after --skip {args.skip}.")
                continue
            for index, (sources, truth) in enumerate(scenes, start=args.skip):
                low, full, reference = downsampled_case(sources, truth, scale, args.degradation)
                for name, fuser in fusers.items():
                    started = time.perf_counter()
                    with Pipeline(fuser, align="none").run(Stack(images=low)) as result:
                        fused = result.fusion.image
                    seconds = time.perf_counter() - started
                    values = score_fused(fused, list(full), reference, METRICS)
                    values["seconds"] = seconds
                    rows[name].append(values)
                    if args.images:
                        path = args.images / f"x{scale}" / set_name / f"{index:02d}-{name}.png"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        mfif.save_image(path, fused)
                print(
                    f"x{scale} {set_name} {index}: dfp {rows[next(iter(rows))][-1]['PSNR']:.2f}"
                    f" in {rows[next(iter(rows))][-1]['seconds']:.0f} s",
                    flush=True,
                )
            summary = {
                name: {key: float(np.mean([r[key] for r in values])) for key in values[0]}
                for name, values in rows.items()
            }
            results[f"x{scale}/{set_name}"] = summary
            report(f"×{scale} {set_name} ({len(rows[next(iter(rows))])} scenes)", summary)
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(results, indent=1))


def report(title: str, summary: dict) -> None:
    print(f"\n{title}")
    print("| method | " + " | ".join(METRICS) + " | s/scene |")
    print("|---" * (len(METRICS) + 2) + "|")
    ranked = sorted(summary.items(), key=lambda item: -item[1]["PSNR"])
    for name, values in ranked:
        cells = " | ".join(f"{values[m]:.4g}" for m in METRICS)
        print(f"| {name} | {cells} | {values['seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
