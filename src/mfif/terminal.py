"""What the ``mfif`` command does around each run: the user sees mfif's own messages only.

- Native libraries (libpng, libjpeg, libtiff inside OpenCV, PyTorch's C++ side) print their
  own warnings straight to file descriptor 2. While a command runs, descriptor 2 points at
  /dev/null and Python's ``sys.stderr`` at a copy of the real one, so mfif's messages, progress
  bars and logging still reach the terminal and the libraries' chatter does not.
- SIGTERM becomes an exception, so that a terminated command cleans up like an interrupted one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator

__all__ = ["Terminated", "quiet_native_stderr", "sigterm_raises"]


class Terminated(BaseException):  # noqa: N818 - named like KeyboardInterrupt, its sibling
    """SIGTERM arrived; raised like KeyboardInterrupt so every cleanup runs."""


@contextlib.contextmanager
def quiet_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Send what native code writes to descriptor 2 to /dev/null; Python's writes still show.

    Python warnings are silenced too (they are for developers, not users of the command).
    Does nothing when ``enabled`` is False or descriptor 2 is not ``sys.stderr``.
    """
    try:
        sys.stderr.flush()
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced by an object without one
        descriptor = -1
    if not enabled or descriptor != 2:
        yield
        return
    saved = os.dup(2)
    python_stderr = sys.stderr
    replacement = open(  # noqa: SIM115 - closed in the finally below
        saved,
        "w",
        buffering=1,
        encoding=getattr(python_stderr, "encoding", None) or "utf-8",
        errors="backslashreplace",
        closefd=False,
    )
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    sys.stderr = replacement
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        replacement.flush()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        replacement.close()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into `Terminated` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(number: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
