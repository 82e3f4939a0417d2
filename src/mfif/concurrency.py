"""Work on a few frames at once while their results are used in order."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

__all__ = ["ordered_map", "default_threads", "usable_cores"]

Item = TypeVar("Item")
Result = TypeVar("Result")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def default_threads() -> int:
    """Threads for frame-level work: the cores this process may use, at most 2 (each thread
    holds a frame's planes; NumPy and OpenCV release the GIL, and OpenCV also splits each call
    over the cores)."""
    return min(2, usable_cores())


def ordered_map(
    function: Callable[[Item], Result], items: Iterable[Item], threads: int
) -> Iterator[Result]:
    """``map(function, items)`` on ``threads`` threads, results in order, at most ``threads``
    results computed ahead of the one being used (memory stays bounded).

    ``threads <= 1`` runs in the calling thread. ``function`` must be safe to call from
    several threads at once.
    """
    if threads <= 1:
        yield from map(function, items)
        return
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mfif") as pool:
        pending = [pool.submit(function, item) for item in islice(iterator, threads)]
        try:
            while pending:
                result = pending.pop(0).result()
                for item in iterator:
                    pending.append(pool.submit(function, item))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()
