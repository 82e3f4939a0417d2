"""Progress on a terminal: the one facility every long loop of mfif reports through.

A bar (tqdm) goes to stderr, only when stderr is a terminal, and only once its work has lasted
`DELAY` seconds, so short runs, logs and pipes stay clean. Off a terminal nothing is drawn and
tqdm is not even imported. Every bar is labelled ``mfif <what>`` and counts its own unit
(frames, tiles, iterations, stacks, scenes, runs, steps).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["DELAY", "progress_bar", "on_a_terminal", "import_in_background"]

DELAY = 0.5  # seconds of work before a bar appears


def on_a_terminal() -> bool:
    """Whether stderr is a terminal (progress and summaries are drawn only then)."""
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def import_in_background() -> None:
    """On a terminal, import tqdm on a thread now (30 ms, mostly its version lookup), so that
    the first bar does not wait for it while frames are decoded."""
    if on_a_terminal():
        import atexit
        import importlib
        import threading

        thread = threading.Thread(target=importlib.import_module, args=("tqdm",), daemon=True)
        thread.start()
        atexit.register(thread.join, 2.0)  # a quick exit waits: no import cut by shutdown


def progress_bar(
    iterable: Iterable | None = None,
    *,
    label: str,
    unit: str,
    total: int | None = None,
    initial: int = 0,
    enabled: bool = True,
    leave: bool = False,
    delay: float = DELAY,
) -> Any:
    """A progress bar over ``iterable`` (or one updated by hand up to ``total``).

    Parameters
    ----------
    iterable : iterable, optional
        Iterate the returned bar instead of it.
    label : str
        What is done; the bar reads ``mfif <label>``.
    unit : str
        What is counted (singular).
    total : int, optional
        The count at the end (default ``len(iterable)`` where it has one).
    initial : int
        The count already done (a resumed run).
    enabled : bool
        False: never drawn.
    leave : bool
        Keep the finished bar on the terminal (whole commands); inner bars vanish.
    delay : float
        Seconds of work before the bar appears (0: at once, for a step known to be long).

    Returns
    -------
    tqdm or a silent stand-in
        Supports iteration, ``update``, ``set_postfix``, ``set_postfix_str``, ``close`` and
        use as a context manager.
    """
    if not (enabled and on_a_terminal()):
        return _Silent(iterable)
    from tqdm import tqdm

    columns, rows = _size()
    return tqdm(
        iterable,
        total=total,
        initial=initial,
        desc=f"mfif {label}",
        unit=unit,
        leave=leave,
        delay=delay,
        file=sys.stderr,
        ncols=columns,
        nrows=rows,
        mininterval=0.25,
    )


def _size() -> tuple[int, int]:
    """The terminal's columns and rows; 100 x 24 where it reports none (a pseudo-terminal
    without a size, where tqdm would draw nothing)."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
        columns, rows = size.columns, size.lines
    except (AttributeError, OSError, ValueError):
        columns, rows = 0, 0
    return (columns if columns > 0 else 100), (rows if rows > 0 else 24)


class _Silent:
    """What a bar does off a terminal: nothing."""

    def __init__(self, iterable: Iterable | None) -> None:
        self._iterable = iterable

    def __iter__(self) -> Iterator:
        return iter(self._iterable if self._iterable is not None else ())

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, count: int = 1) -> None:
        return None

    def set_postfix(self, *args: object, **kwargs: object) -> None:
        return None

    def set_postfix_str(self, *args: object, **kwargs: object) -> None:
        return None

    def close(self) -> None:
        return None
