"""ARank: the mean over metrics of a method's rank among the compared methods (UDPNet, sec.
IV-B: "we compute the rank of a method among all compared methods for each metric, and report
the average rank score ... over all metrics"). Rank 1 is best; ties share the mean rank."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["average_ranks", "metric_ranks"]


def metric_ranks(values: Mapping[str, float], better: str) -> dict[str, float]:
    """Rank of each method on one metric; methods without a value are left out.

    Parameters
    ----------
    values : mapping of method name to score
    better : {"higher", "lower", "zero"}
        "zero" ranks by absolute value, smallest first.
    """
    present = {m: v for m, v in values.items() if v is not None and np.isfinite(v)}
    if better == "higher":
        keys = {m: -v for m, v in present.items()}
    elif better == "lower":
        keys = dict(present)
    elif better == "zero":
        keys = {m: abs(v) for m, v in present.items()}
    else:
        raise ValueError(f"better must be 'higher', 'lower' or 'zero'; got {better!r}.")
    ordered = sorted(keys.values())
    ranks = {}
    for method, key in keys.items():
        first = ordered.index(key) + 1
        last = len(ordered) - ordered[::-1].index(key)
        ranks[method] = (first + last) / 2.0
    return ranks


def average_ranks(
    table: Mapping[str, Mapping[str, float]], directions: Mapping[str, str]
) -> dict[str, float]:
    """ARank per method.

    Parameters
    ----------
    table : mapping of method to (mapping of metric to mean score)
    directions : mapping of metric to "higher", "lower" or "zero"

    Returns
    -------
    dict of method to mean rank (NaN for a method with no ranked metric)
    """
    collected: dict[str, list[float]] = {method: [] for method in table}
    for metric, better in directions.items():
        ranks = metric_ranks({m: scores.get(metric) for m, scores in table.items()}, better)
        for method, rank in ranks.items():
            collected[method].append(rank)
    return {m: float(np.mean(r)) if r else float("nan") for m, r in collected.items()}
