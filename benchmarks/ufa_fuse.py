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

Run:  .venv/bin/python benchmarks/ufa_fuse.py [--weights PATH] [--variant LABEL=PATH ...]
      [--repeats 3] [--skip-speed]

Needs ../shared/datasets and enfuse. Prints Markdown tables.
"""

from __future__ import annotations

import mfif

from _heldout import make_sets, network_setup, score, score_real, speed, table

PAPER = ["AVG", "SEN", "STD"]  # the metrics of UFA-Fuse's Table IV


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
    if variants:
        results = {"ufa-fuse": score_real(shipped, datasets, "lytro", PAPER + ["Q_G"])}
        results.update(
            {k: score_real(f, datasets, "lytro", PAPER + ["Q_G"]) for k, f in variants.items()}
        )
        results["guided-decision"] = score_real(
            others["guided-decision"], datasets, "lytro", PAPER + ["Q_G"]
        )
        table("Lytro, the paper's ablation set (no ground truth)", results)
    reduced = mfif.create("ufa-fuse", many="reduce", **options)
    folded = mfif.create("ufa-fuse", many="fold", **options)
    for name in ("middlebury-depth-3", "drawn-3", "drawn-4"):
        results = {
            "ufa-fuse, default (groups of at most three)": score(shipped, sets[name]),
            "ufa-fuse, all sources at once (reduce)": score(reduced, sets[name]),
            "ufa-fuse, pairwise folding": score(folded, sets[name]),
            "guided-decision": score(others["guided-decision"], sets[name]),
        }
        table(f"more sources: {name} ({len(sets[name])} stacks)", results)


if __name__ == "__main__":
    main()
