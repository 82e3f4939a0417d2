"""Work on a few frames at once while their results are used in order."""

from __future__ import annotations

import os
import threading
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
    pool = _pool(threads)
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


# Each calling thread's pools, by size, kept for the next call: starting and joining two
# threads cost 0.76 ms a call, and the 7 x 3 MP pcb stack makes 120 calls. A pool serves one
# calling thread, so work that itself calls `ordered_map` from a pool's thread gets a pool of
# its own and never waits for a thread busy waiting on it. Interleaved calls from one thread
# share its pool: their work is queued, never blocked, since no task waits on another. The
# pools of threads that have ended are shut down when the next pool is made.
_pools: dict[tuple[int, int], tuple[threading.Thread, ThreadPoolExecutor]] = {}
_pools_lock = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    caller = threading.current_thread()
    key = (threading.get_ident(), threads)
    with _pools_lock:
        found = _pools.get(key)
        if found is not None and found[0] is caller:
            return found[1]
        for ended in [key for key, (thread, _) in _pools.items() if not thread.is_alive()]:
            _pools.pop(ended)[1].shutdown(wait=False)
        pool = ThreadPoolExecutor(threads, thread_name_prefix="mfif")
        _pools[key] = (caller, pool)
        return pool


def _forget_pools() -> None:
    """In a forked child the parent's pool threads do not exist: start afresh."""
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)
