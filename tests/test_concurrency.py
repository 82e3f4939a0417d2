"""`mfif.concurrency.ordered_map`: results in order, bounded look-ahead, pools kept per
calling thread."""

from __future__ import annotations

import threading
import time

import pytest

from mfif import concurrency
from mfif.concurrency import ordered_map


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_results_come_in_order(threads: int) -> None:
    def slow_for_small(x: int) -> int:
        time.sleep(0.002 * (5 - x % 5))  # later items finish first
        return x * x

    assert list(ordered_map(slow_for_small, range(12), threads)) == [x * x for x in range(12)]


def test_at_most_threads_results_are_computed_ahead() -> None:
    started = []

    def record(x: int) -> int:
        started.append(x)
        return x

    results = ordered_map(record, range(10), 2)
    assert next(results) == 0
    time.sleep(0.05)
    assert max(started) <= 2  # the one handed out, and two ahead
    assert list(results) == list(range(1, 10))


def test_a_thread_reuses_its_pool_and_work_that_maps_again_does_not_wait_for_itself() -> None:
    def inner(x: int) -> int:
        return sum(ordered_map(lambda y: x * y, range(4), 2))  # from a pool's own thread

    first = list(ordered_map(inner, range(6), 2))
    pools = dict(concurrency._pools)
    second = list(ordered_map(inner, range(6), 2))
    assert first == second == [6 * x for x in range(6)]
    mine = (threading.get_ident(), 2)
    assert concurrency._pools[mine] is pools[mine]


def test_interleaved_maps_on_one_thread_share_its_pool() -> None:
    outer = ordered_map(lambda x: x + 1, range(5), 2)
    collected = [(a, list(ordered_map(lambda y: y * 2, range(a), 2))) for a in outer]
    assert collected == [(a, [2 * y for y in range(a)]) for a in range(1, 6)]


def test_the_pools_of_threads_that_ended_are_shut_down() -> None:
    def work() -> None:
        assert list(ordered_map(abs, [-1, -2, -3], 2)) == [1, 2, 3]

    for _ in range(5):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    list(ordered_map(abs, [-1], 5))  # a new pool (no other test maps on 5): ended ones dropped
    callers = [thread for thread, _ in concurrency._pools.values()]
    assert all(thread.is_alive() for thread in callers)


def test_an_error_in_the_work_reaches_the_caller_and_the_pool_stays_usable() -> None:
    def fails_on_three(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        list(ordered_map(fails_on_three, range(6), 2))
    assert list(ordered_map(abs, [-4, 5], 2)) == [4, 5]
