"""Held-out ground-truth sets and the scoring the network benchmarks share.

Sets, written once under build/ufa-test/ (the name under which UFA-Fuse's manifest entry
scored them) with `mfif synth` from the *test* split of datasets/natural (`mfif.data.natural`:
by sequence, scene and image; training and validation never saw them):

- middlebury-depth: the test scenes' both views, two focus planes (--max-blur 8);
- middlebury-depth-3: the same, three focus planes;
- davis-mask: the test sequences' frames 00020 and 00040 (--seed 0);
- pascal-mask: the first 40 test images of PASCAL-S, masks binarised at 128 (--seed 0);
- drawn-3, drawn-4: 16 three- and four-source stacks drawn by the training sampler from the
  test split (256 px).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

import mfif
from mfif.data.focus_stacks import StackSampler
from mfif.data.natural import natural_items
from mfif.data.scenes import find_scenes
from mfif.data.synth import synthesize_from_depth, synthesize_from_masks
from mfif.metrics import compute
from mfif.pipeline import Pipeline
from mfif.scoring import ground_truth_cases, mean_scores

from _common import (
    ENFUSE_FLAGS,
    child_run,
    median_seconds,
    real_stacks,
    require_enfuse,
    require_shared,
    run_enfuse,
)


def network_setup(method: str, description: str) -> tuple:
    """Parse a network benchmark's command line (--weights, --variant LABEL=PATH ...,
    --repeats, --skip-speed; its help is the first line of ``description``), check ../shared
    and enfuse, and build the fusers.

    Returns (datasets folder, the shipped or --weights fuser, its options, the variants'
    fusers by label, the parsed arguments)."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--weights", help=f"{method} weights instead of the shipped ones")
    parser.add_argument("--variant", nargs="*", default=[], metavar="LABEL=PATH")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-speed", action="store_true")
    arguments = parser.parse_args()
    datasets = require_shared()
    require_enfuse()
    options = {"weights": arguments.weights} if arguments.weights else {}
    variants = {}
    for text in arguments.variant:
        label, _, path = text.partition("=")
        variants[label] = mfif.create(method, weights=path)
    return datasets, mfif.create(method, **options), options, variants, arguments


OUT = Path("build/ufa-test")
QUALITY = ["PSNR", "SSIM"]


def make_sets(datasets: Path) -> dict[str, list]:
    """Write the held-out sets once; returns name -> [(sources (K,H,W,C), truth)]."""
    natural = datasets / "natural"
    test = [item for item in natural_items(natural) if item.split == "test"]

    def images(source: str, keep=lambda item: True) -> list[str]:
        return sorted(str(i.image) for i in test if i.source == source and keep(i))

    middlebury = images("middlebury2006")
    davis = images("davis2016", lambda i: i.id.endswith(("_00020", "_00040")))
    pascal = images("pascal_s")[:40]
    writers = {
        "middlebury-depth": lambda out: synthesize_from_depth(
            middlebury, natural / "middlebury2006/depth", out, planes=2, max_blur=8
        ),
        "middlebury-depth-3": lambda out: synthesize_from_depth(
            middlebury, natural / "middlebury2006/depth", out, planes=3, max_blur=8
        ),
        "davis-mask": lambda out: synthesize_from_masks(davis, natural / "davis2016/masks", out),
        "pascal-mask": lambda out: synthesize_from_masks(pascal, natural / "pascal_s/masks", out),
    }
    sets = {}
    for name, write in writers.items():
        if not (OUT / name / "synth.json").exists():
            write(OUT / name)
        sets[name] = ground_truth_cases([OUT / name])
    sampler = StackSampler(test, grey_probability=0.0)
    rng = np.random.default_rng(99)
    sets["drawn-3"] = [sampler.draw(rng, 256, 3) for _ in range(16)]
    sets["drawn-4"] = [sampler.draw(rng, 256, 4) for _ in range(16)]
    return sets


def colour_difference(fused: np.ndarray, truth: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean CIE76 ΔE in CIELAB, and the mean signed error per RGB channel in 8-bit levels."""
    if fused.shape[-1] == 1:
        fused, truth = np.repeat(fused, 3, -1), np.repeat(truth, 3, -1)
    lab_fused = cv2.cvtColor(np.ascontiguousarray(fused, np.float32), cv2.COLOR_RGB2Lab)
    lab_truth = cv2.cvtColor(np.ascontiguousarray(truth, np.float32), cv2.COLOR_RGB2Lab)
    delta = float(np.linalg.norm(lab_fused - lab_truth, axis=-1).mean())
    return delta, (fused - truth).reshape(-1, 3).mean(axis=0) * 255


def colour_measures(fused: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """ΔE and the per-channel bias of one case (`colour_difference`)."""
    delta, bias = colour_difference(fused, truth)
    return {"ΔE": delta, "bias R": bias[0], "bias G": bias[1], "bias B": bias[2]}


def score(fuser, cases: list, extra: tuple[str, ...] = ()) -> dict[str, float]:
    """Mean PSNR, SSIM, ``extra`` metrics, ΔE and channel bias of ``fuser`` over ``cases``
    (`mfif.scoring.mean_scores`; the sets are registered, so nothing is aligned)."""
    pipeline = Pipeline(fuser, align="none")
    return mean_scores(pipeline, cases, QUALITY + list(extra), measures=colour_measures)


def speed(datasets: Path, fusers: dict, repeats: int) -> None:
    """Seconds per Lytro pair of each fuser against enfuse's whole process; peak RSS."""
    _, paths = real_stacks(datasets, "lytro")[0]
    stack = mfif.load_stack(paths)
    with tempfile.TemporaryDirectory() as folder:
        enfuse = statistics.median(
            run_enfuse(paths, Path(folder) / "out.tif") for _ in range(repeats)
        )
    print(f"\n## Speed: {paths[0].parent.name}, 520x520 RGB pair, 2 CPU cores\n")
    print("| method | parameters | s/pair | ratio to enfuse |")
    print("|---|---|---|---|")
    print(f"| enfuse (whole process) | – | {enfuse:.3f} | 1.0 |")
    for label, fuser in fusers.items():
        fuser.fuse(stack)  # warm-up
        seconds = median_seconds(lambda fuser=fuser: fuser.fuse(stack), repeats)
        print(f"| {label} | {fuser.parameter_count:,} | {seconds:.3f} | {seconds / enfuse:.1f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process so far: {peak:.0f} MB")


def large_image(datasets: Path, method: str, options: dict, side: int = 3000) -> None:
    """Time and peak memory of the whole `mfif fuse` process on a Lytro pair upscaled to
    ``side`` x ``side`` (bounded memory needs tiling), with enfuse's in the same run."""
    _, paths = real_stacks(datasets, "lytro")[0]
    with tempfile.TemporaryDirectory() as folder:
        large = []
        for k, path in enumerate(paths):
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            large.append(Path(folder) / f"{k}.png")
            cv2.imwrite(str(large[-1]), cv2.resize(image, (side, side), cv2.INTER_CUBIC))
        fuse = [str(Path(sys.executable).with_name("mfif")), "fuse", "-m", method]
        for key, value in options.items():
            fuse += ["--option", f"{key}={value}"]
        ours = child_run([*fuse, *map(str, large), "-o", str(Path(folder) / "ours.png")])
        theirs = child_run(
            [require_enfuse(), *ENFUSE_FLAGS, f"--output={folder}/e.tif"] + [str(p) for p in large]
        )
    megapixels = side * side / 1e6
    print(f"\n## Large image: a Lytro pair upscaled to {side}x{side} ({megapixels:.0f} MP)\n")
    print("| program | s | peak RSS, MB |")
    print("|---|---|---|")
    print(f"| mfif fuse -m {method} (whole process) | {ours[0]:.1f} | {ours[1]:.0f} |")
    print(f"| enfuse (whole process) | {theirs[0]:.1f} | {theirs[1]:.0f} |", flush=True)


def score_real(fuser, datasets: Path, name: str, metrics: list[str]) -> dict[str, float]:
    """Mean ``metrics`` (no-reference) over a real set's pairs (its larger stacks are left out:
    the papers' tables are on pairs, and some metrics are defined for two sources only)."""
    rows = []
    for _, paths in real_stacks(datasets, name):
        if len(paths) != 2:
            continue
        stack = mfif.load_stack(paths)
        fused = fuser.fuse(stack).image
        rows.append(compute(metrics, fused, list(stack.images)))
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def table(title: str, results: dict[str, dict[str, float]]) -> None:
    """Print ``results`` (label -> metric -> value) as a Markdown table."""
    keys = list(next(iter(results.values())))
    print(f"\n## {title}\n")
    print("| method | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, values in results.items():
        print(f"| {label} | " + " | ".join(f"{values[k]:.4g}" for k in keys) + " |", flush=True)


def cut_to_multiple(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` (H, W[, C]) cut to sides that are multiples of ``factor``, float32."""
    height, width = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    return np.ascontiguousarray(image[:height, :width], dtype=np.float32)


def even(image: np.ndarray) -> np.ndarray:
    return cut_to_multiple(image, 2)


def enlargement_truths(
    shared: Path, scratch: Path, real_sources: bool = False
) -> dict[str, list[np.ndarray]]:
    """Truths to enlarge (`benchmarks/learned_enlargement.py`, `benchmarks/smoothing.py`):
    held-out scenes, the shared stacks' default fusions (written to ``scratch``), three
    blurred-noise textures, and with ``real_sources`` the first source of each scene of
    ``shared/real``; each cut to even sides."""
    sets = make_sets(shared)
    found = {"held-out scenes (10)": [even(t) for name in ("pascal-mask", "davis-mask",
             "middlebury-depth") for _, t in sets[name][4:10]]}  # fmt: skip
    program = str(Path(sys.executable).with_name("mfif"))
    for stack in sorted((shared / "stacks").iterdir()):
        output = scratch / f"{stack.name}.png"
        subprocess.run([program, "fuse", str(stack), "--exclude", "reference*", "-o", str(output)],
                       check=True, capture_output=True)  # fmt: skip
        found[f"fused {stack.name}"] = [even(mfif.read_image(output)[0])]
    rng = np.random.default_rng(2)
    textures = []
    for _ in range(3):
        texture = cv2.GaussianBlur(rng.random((60, 72, 3)).astype(np.float32), (0, 0), 1.2)
        textures.append((texture - texture.min()) / (texture.max() - texture.min()))
    found["synthetic textures (3)"] = textures
    if real_sources:
        scenes = find_scenes(sorted(p for p in (shared / "real").iterdir() if p.is_dir()))[0]
        found[f"real first sources ({len(scenes)})"] = [
            even(mfif.read_image(scene.sources[0])[0]) for scene in scenes
        ]
    return found
