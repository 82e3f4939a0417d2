"""UFA-Fuse on held-out ground truth: quality against guided-decision and enfuse, colour
difference, two and three sources (reduce against pairwise folding), speed and memory, and
weight variants (ablations, widths).

Sets, written once by this script under build/ufa-test/ with `mfif synth` from the *test* split
of datasets/natural (`mfif.data.natural`: by sequence, scene and image; training and validation
never saw them):

- middlebury-depth: the test scenes' both views, two focus planes (--max-blur 8);
- middlebury-depth-3: the same, three focus planes;
- davis-mask: the test sequences' frames 00020 and 00040 (--seed 0);
- pascal-mask: the first 40 test images of PASCAL-S, masks binarised at 128 (--seed 0);
- drawn-3: 16 three-source stacks drawn by the training sampler from the test split (256 px).

With --variant, the variants are also scored on ../shared's real Lytro pairs with the paper's
ablation metrics (Table IV: AVG, SEN, STD) and Q_G.

Ablations (Table IV's switches), each the same short schedule (width 16, 1,200 steps, the
learning rate divided by 10 after 800, seed 0, the same data):

    N=../shared/datasets/natural; A=build/ufa-ablations
    S="--recipe cpu --width 16 --steps 1200 --decay-every 800 --validate-every 400"
    mfif train ufa-fuse --data $N $S --checkpoint $A/ufa.ckpt --export $A/ufa.pt --tag ufa
    mfif train ufa-fuse --data $N $S --checkpoint $A/no-sa.ckpt --export $A/no-sa.pt \
        --tag no_sa --no-spatial-attention
    mfif train ufa-fuse --data $N $S --checkpoint $A/no-ca.ckpt --export $A/no-ca.pt \
        --tag no_ca --no-channel-attention
    mfif train ufa-fuse --data $N $S --checkpoint $A/no-ufa.ckpt --export $A/no-ufa.pt \
        --tag no_ufa --no-spatial-attention --no-channel-attention
    .venv/bin/python benchmarks/ufa_fuse.py --skip-speed --variant UFA=$A/ufa.pt \
        NO-SA=$A/no-sa.pt NO-CA=$A/no-ca.pt NO-UFA=$A/no-ufa.pt

Run:  .venv/bin/python benchmarks/ufa_fuse.py [--weights PATH] [--variant LABEL=PATH ...]
      [--repeats 3] [--skip-speed]

Needs ../shared/datasets and enfuse. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
from pathlib import Path

import cv2
import numpy as np

import mfif
from mfif.data.focus_stacks import StackSampler
from mfif.data.natural import natural_items
from mfif.data.synth import synthesize_from_depth, synthesize_from_masks
from mfif.metrics import compute
from mfif.stack import Stack
from mfif.training.validation import ground_truth_cases

from _common import median_seconds, real_stacks, require_enfuse, require_shared, run_enfuse

OUT = Path("build/ufa-test")
QUALITY = ["PSNR", "SSIM"]
PAPER = ["AVG", "SEN", "STD"]  # the metrics of UFA-Fuse's Table IV


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
    return sets


def colour_difference(fused: np.ndarray, truth: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean CIE76 ΔE in CIELAB, and the mean signed error per RGB channel in 8-bit levels."""
    if fused.shape[-1] == 1:
        fused, truth = np.repeat(fused, 3, -1), np.repeat(truth, 3, -1)
    lab_fused = cv2.cvtColor(np.ascontiguousarray(fused, np.float32), cv2.COLOR_RGB2Lab)
    lab_truth = cv2.cvtColor(np.ascontiguousarray(truth, np.float32), cv2.COLOR_RGB2Lab)
    delta = float(np.linalg.norm(lab_fused - lab_truth, axis=-1).mean())
    return delta, (fused - truth).reshape(-1, 3).mean(axis=0) * 255


def score(fuser, cases: list, with_paper: bool = False) -> dict[str, float]:
    rows = []
    for sources, truth in cases:
        fused = fuser.fuse(Stack(images=sources)).image
        names = QUALITY + (PAPER if with_paper else [])
        values = compute(names, fused, list(sources) if len(sources) == 2 else [], truth)
        delta, bias = colour_difference(fused, truth)
        values.update({"ΔE": delta, "bias R": bias[0], "bias G": bias[1], "bias B": bias[2]})
        rows.append(values)
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def speed(datasets: Path, fusers: dict, repeats: int) -> None:
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


def score_real(fuser, datasets: Path, name: str) -> dict[str, float]:
    """Mean AVG, SEN, STD (the paper's ablation metrics) and Q_G over a real set's pairs."""
    rows = []
    for _, paths in real_stacks(datasets, name):
        stack = mfif.load_stack(paths)
        fused = fuser.fuse(stack).image
        rows.append(compute(PAPER + ["Q_G"], fused, list(stack.images)))
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def table(title: str, results: dict[str, dict[str, float]]) -> None:
    keys = list(next(iter(results.values())))
    print(f"\n## {title}\n")
    print("| method | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, values in results.items():
        print(f"| {label} | " + " | ".join(f"{values[k]:.4g}" for k in keys) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="UFA-Fuse weights instead of the shipped ones")
    parser.add_argument("--variant", nargs="*", default=[], metavar="LABEL=PATH")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    datasets = require_shared()
    require_enfuse()
    options = {"weights": args.weights} if args.weights else {}
    shipped = mfif.create("ufa-fuse", **options)
    variants = {}
    for text in args.variant:
        label, _, path = text.partition("=")
        variants[label] = mfif.create("ufa-fuse", weights=path)
    if not args.skip_speed:
        speed(datasets, {"ufa-fuse": shipped, **variants}, args.repeats)
    sets = make_sets(datasets)
    others = {"guided-decision": mfif.create("guided-decision"), "enfuse": mfif.create("enfuse")}
    for name in ("middlebury-depth", "davis-mask", "pascal-mask"):
        results = {"ufa-fuse": score(shipped, sets[name], with_paper=True)}
        results.update({k: score(f, sets[name], with_paper=True) for k, f in others.items()})
        results.update({k: score(f, sets[name], with_paper=True) for k, f in variants.items()})
        table(f"{name} ({len(sets[name])} scenes, held out)", results)
    if variants:
        results = {"ufa-fuse": score_real(shipped, datasets, "lytro")}
        results.update({k: score_real(f, datasets, "lytro") for k, f in variants.items()})
        results["guided-decision"] = score_real(others["guided-decision"], datasets, "lytro")
        table("Lytro, the paper's ablation set (no ground truth)", results)
    folded = mfif.create("ufa-fuse", many="fold", **options)
    for name in ("middlebury-depth-3", "drawn-3"):
        results = {
            "ufa-fuse, all sources at once (reduce)": score(shipped, sets[name]),
            "ufa-fuse, pairwise folding": score(folded, sets[name]),
            "guided-decision": score(others["guided-decision"], sets[name]),
        }
        table(f"three sources: {name} ({len(sets[name])} stacks)", results)


if __name__ == "__main__":
    main()
