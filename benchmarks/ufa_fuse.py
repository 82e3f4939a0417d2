"""UFA-Fuse on held-out ground truth: quality against guided-decision and enfuse, colour
difference, two and three sources (reduce against pairwise folding), speed and memory, and
weight variants (ablations, widths).

The held-out sets (build/ufa-test/, written once) are described in `_heldout.py`.

With --variant, the variants are also scored on ../shared's real Lytro pairs with the paper's
ablation metrics (Table IV: AVG, SEN, STD) and Q_G.

Ablations (Table IV's switches), each the same short schedule (width 16, 600 steps, the
learning rate divided by 10 every 200, seed 0, the same data; about 9 minutes each on 2 cores):

    N=../shared/datasets/natural; A=build/ufa-ablations
    S="--recipe cpu --width 16 --steps 600 --decay-every 200 --validate-every 600"
    mfif train ufa-fuse --data $N $S --checkpoint $A/ufa.ckpt --export $A/ufa.pt --tag ufa
    mfif train ufa-fuse --data $N $S --checkpoint $A/no-sa.ckpt --export $A/no-sa.pt \
        --tag no_sa --no-spatial-attention
    mfif train ufa-fuse --data $N $S --checkpoint $A/no-ca.ckpt --export $A/no-ca.pt \
        --tag no_ca --no-channel-attention
    mfif train ufa-fuse --data $N $S --checkpoint $A/no-ufa.ckpt --export $A/no-ufa.pt \
        --tag no_ufa --no-spatial-attention --no-channel-attention
    .venv/bin/python benchmarks/ufa_fuse.py --skip-speed --variant UFA=$A/ufa.pt \
        NO-SA=$A/no-sa.pt NO-CA=$A/no-ca.pt NO-UFA=$A/no-ufa.pt

Widths, the same schedule at the cpu recipe's other settings (width 16 is UFA above; width 64
about 6-7 s per step, 70 minutes):

    S="--recipe cpu --steps 600 --decay-every 200 --validate-every 600"
    mfif train ufa-fuse --data $N $S --width 32 --checkpoint $A/width-32.ckpt \
        --export $A/width-32.pt --tag width_32
    mfif train ufa-fuse --data $N $S --width 64 --checkpoint $A/width-64.ckpt \
        --export $A/width-64.pt --tag width_64
    .venv/bin/python benchmarks/ufa_fuse.py --skip-speed --variant W16=$A/ufa.pt \
        W32=$A/width-32.pt W64=$A/width-64.pt

Where the error sits: on the mask sets every pixel is either a copy of one source (the mask is
0 or 1 there) or lies in the soft band of the mask's edge, where no source equals the truth.
The "where it goes wrong" table gives the RGB PSNR pooled over each kind of pixel, of each
truth fused with itself (a perfect fuser returns it unchanged) and, for the networks, how
decisive the spatial attention is on each kind of pixel: the mean of |2 M^s_1 - 1| (0: both
sources weighed equally, 1: one source alone), over the whole image at once.

The shipped weights (ufa_fuse.cpu-residual) against the paper's network they started from
(ufa_fuse.cpu, the cpu recipe; the residual stage is the cpu-residual recipe):

    .venv/bin/python benchmarks/ufa_fuse.py \
        --variant paper-network=src/mfif/weights/ufa_fuse-cpu.pt

Run:  .venv/bin/python benchmarks/ufa_fuse.py [--weights PATH] [--variant LABEL=PATH ...]
      [--repeats 3] [--skip-speed]

Needs ../shared/datasets and enfuse. Prints Markdown tables.
"""

from __future__ import annotations

import numpy as np

import mfif
from mfif.stack import Stack

from _heldout import make_sets, network_setup, score, score_real, speed, table

PAPER = ["AVG", "SEN", "STD"]  # the metrics of UFA-Fuse's Table IV


def _pooled_psnr(squared_error: float, pixels: int) -> float:
    return float(10 * np.log10(pixels / squared_error)) if squared_error > 0 else float("inf")


def attention_decisiveness(fuser, sources: np.ndarray) -> np.ndarray | None:
    """|2 M^s_1 - 1| of a two-source UFA-Fuse network's spatial attention, (H, W); else None."""
    model = getattr(fuser, "model", None)
    if model is None or len(sources) != 2 or not model.attention.spatial:
        return None
    import torch

    batch = torch.from_numpy(np.asarray(sources, np.float32)).permute(0, 3, 1, 2)[None]
    with torch.inference_mode():
        _, maps = model.fuse_features(batch.to(next(model.parameters()).device))
    return (2 * maps["spatial"][0, 0, 0] - 1).abs().cpu().numpy()


def error_regions(fuser, cases: list) -> dict[str, float]:
    """RGB PSNR pooled over the pixels one source copies exactly, over the rest (mask edges),
    and of each truth fused with itself; the spatial attention's decisiveness on both kinds."""
    copied = [0.0, 0]  # squared error summed over RGB means, pixel count
    mixed = [0.0, 0]
    itself = [0.0, 0]
    decisive: dict[str, list] = {
        "attention decisiveness, copies": [],
        "attention decisiveness, edges": [],
    }
    for sources, truth in cases:
        exact = (np.abs(np.asarray(sources) - truth).max(axis=-1) < 0.5 / 255).any(axis=0)
        attention = attention_decisiveness(fuser, sources)
        if attention is not None:
            decisive["attention decisiveness, copies"].append(attention[exact])
            decisive["attention decisiveness, edges"].append(attention[~exact])
        error = ((fuser.fuse(Stack(images=sources)).image - truth) ** 2).mean(axis=-1)
        copied[0] += error[exact].sum()
        copied[1] += int(exact.sum())
        mixed[0] += error[~exact].sum()
        mixed[1] += int((~exact).sum())
        twice = np.stack([truth, truth])
        itself[0] += ((fuser.fuse(Stack(images=twice)).image - truth) ** 2).mean(axis=-1).sum()
        itself[1] += truth.shape[0] * truth.shape[1]
    return {
        "one source exact": _pooled_psnr(*copied),
        "share of those": copied[1] / (copied[1] + mixed[1]),
        "mask edges": _pooled_psnr(*mixed),
        "all pixels": _pooled_psnr(copied[0] + mixed[0], copied[1] + mixed[1]),
        "fused with itself": _pooled_psnr(*itself),
    } | {
        key: float(np.concatenate(values).mean()) if values else float("nan")
        for key, values in decisive.items()
    }


def main() -> None:
    datasets, shipped, options, variants, args = network_setup("ufa-fuse", __doc__)
    if not args.skip_speed:
        speed(datasets, {"ufa-fuse": shipped, **variants}, args.repeats)
    sets = make_sets(datasets)
    others = {"guided-decision": mfif.create("guided-decision"), "enfuse": mfif.create("enfuse")}
    for name in ("middlebury-depth", "davis-mask", "pascal-mask"):
        results = {"ufa-fuse": score(shipped, sets[name], extra=PAPER)}
        results.update({k: score(f, sets[name], extra=PAPER) for k, f in others.items()})
        results.update({k: score(f, sets[name], extra=PAPER) for k, f in variants.items()})
        table(f"{name} ({len(sets[name])} scenes, held out)", results)
    for name in ("davis-mask", "pascal-mask"):
        fusers = {"ufa-fuse": shipped, "guided-decision": others["guided-decision"], **variants}
        results = {k: error_regions(f, sets[name]) for k, f in fusers.items()}
        table(f"where it goes wrong: {name} (RGB PSNR pooled over the set)", results)
    if variants:
        results = {"ufa-fuse": score_real(shipped, datasets, "lytro", PAPER + ["Q_G"])}
        results.update(
            {k: score_real(f, datasets, "lytro", PAPER + ["Q_G"]) for k, f in variants.items()}
        )
        results["guided-decision"] = score_real(
            others["guided-decision"], datasets, "lytro", PAPER + ["Q_G"]
        )
        table("Lytro, the paper's ablation set (no ground truth)", results)
    threes = mfif.create("ufa-fuse", many="threes", **options)
    reduced = mfif.create("ufa-fuse", many="reduce", **options)
    folded = mfif.create("ufa-fuse", many="fold", **options)
    for name in ("middlebury-depth-3", "drawn-3", "drawn-4"):
        results = {
            "ufa-fuse, default (a tree of pairs)": score(shipped, sets[name]),
            "ufa-fuse, groups of at most three (threes)": score(threes, sets[name]),
            "ufa-fuse, all sources at once (reduce)": score(reduced, sets[name]),
            "ufa-fuse, pairwise folding": score(folded, sets[name]),
            "guided-decision": score(others["guided-decision"], sets[name]),
        }
        table(f"more sources: {name} ({len(sets[name])} stacks)", results)


if __name__ == "__main__":
    main()
