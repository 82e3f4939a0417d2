"""Command line: ``mfif fuse | batch | methods | demo | metrics | synth | bench | train``, one
module per command, each with its parser (``add_parser``) beside what it runs (``run``).

Exit statuses: 0 success; 2 bad input (one sentence on stderr: a wrong file, option or
argument, not enough memory for the input); 130 interrupted (Ctrl-C); 143 terminated
(SIGTERM); 1 internal error (a bug: one sentence, the traceback with ``MFIF_DEBUG=1``). Every
command writes all of its outputs or none of them (`mfif.outputs.OutputSet`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import NoReturn

from ..errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    MfifError,
)
from ..terminal import Terminated, quiet_native_stderr, sigterm_raises
from . import batch, bench, demo, fuse, methods, metrics, synth, train
from .arguments import Parser, say

__all__ = ["main"]

_logger = logging.getLogger("mfif")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mfif`` console script; returns the exit status."""
    if argv is None:  # the console script owns its process
        tune_memory()
        tune_threads()
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        # A bad argument: one line, SystemExit(2).
        args = _build_parser(arguments).parse_args(arguments)
    except KeyboardInterrupt:  # Ctrl-C while the parser is built (it imports the methods)
        say("interrupted")
        return EXIT_INTERRUPTED
    from ..progress import import_in_background

    import_in_background()
    debug = bool(os.environ.get("MFIF_DEBUG"))
    verbose = bool(getattr(args, "verbose", False))
    with quiet_native_stderr(enabled=not (verbose or debug)), sigterm_raises():
        with _log_to_stderr(verbose):
            status = _run(args, debug)
    if argv is None:
        _leave(status)
    return status


def _leave(status: int) -> NoReturn:
    """End the console script's process with ``status`` without tearing the interpreter
    down: every output is written, closed and renamed by now, and freeing the frames, the
    heap and the modules one by one took 40-55 ms of a 0.6 s run (3 x 2 MP, still)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more to say anyway
            stream.flush()
    os._exit(status)


_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8  # glibc's mallopt parameters


def tune_threads() -> None:
    """NumPy's OpenBLAS computes on one thread in the ``mfif`` process, unless
    ``OPENBLAS_NUM_THREADS`` says otherwise: mfif runs its stages on its own threads (one a
    core), whose small products (the sub-pixel registration's 60,000-point fits, luminance)
    OpenBLAS would otherwise split again across threads that spin while they wait. Measured
    on 2 cores, interleaved runs: 7 x 3 MP pcb 1.66-1.80 -> 1.30-1.66 s, 3 x 2 MP 0.94 ->
    0.86 s (median of 4), the same 3 still 0.58 -> 0.53 s; the same bytes. Read when NumPy
    loads OpenBLAS, so set before NumPy is imported (it is not yet here)."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def tune_memory() -> None:
    """How the ``mfif`` process gets memory: freed blocks are kept for reuse (frames and maps
    too: nothing is mapped on its own), and NumPy does not ask for transparent huge pages.

    A stage's temporaries (a frame's warp and its bounds, a weight map: 8-30 MB each) are
    otherwise handed back to the system when freed, and the next stage pays page faults to get
    them again (0.5-5 ms per MB on our virtual machines); huge pages take fewer faults but
    each one zeroes 2 MB, and their cost varies from run to run by a factor of several. On a
    3 x 2 MP stack that moves, the median of 10 runs went 1.08 -> 0.97 s (reuse), then to 1.02
    (12 runs) with a spread of 0.95-1.19 s instead of 0.89-1.58 (no huge pages). Blocks
    above 32 MB (a frame of 3 MP or more as float32) were still mapped and unmapped on their
    own, each read of a frame faulting its pages in again; kept on the heap instead, the
    7 x 3 MP pcb stack went 2.62 -> 2.28 s (median of 5, interleaved) and the 24 MP x 30
    stack 33-36 -> 29.5 s, at the same peak memory. Threads take their blocks from the same
    heap: glibc gives each thread an arena of 64 MB heaps, mapped and unmapped as they fill and
    empty (4,735 times on 24 MP x 30), and maps its blocks above 64 MB on their own (24 MP x
    30: 33 s of system time -> 15-18 s, 38-41 -> 31-35 s). Only for the ``mfif``
    process itself, never on import; each part is skipped where the platform lacks it.
    """
    numpy = sys.modules.get("numpy")
    if numpy is None:  # read when NumPy is imported (not yet: `mfif --version` stays quick)
        os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    else:
        core = getattr(numpy, "_core", numpy)
        set_huge_pages = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
        if set_huge_pages is not None:
            set_huge_pages(False)
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_MAX, 0)  # every block from the heap: a freed frame is reused as it is
    mallopt(_M_TRIM_THRESHOLD, 2**30)  # and the heap's top is not handed back either
    mallopt(_M_ARENA_MAX, 1)  # threads too take their blocks from that heap


def _run(args: argparse.Namespace, debug: bool) -> int:
    try:
        return int(args.run(args) or EXIT_OK)
    except MfifError as error:
        say(f"error: {error}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        say("terminated")
        return EXIT_TERMINATED
    except MemoryError:
        say(
            "error: not enough memory for this input; use fewer or smaller images, or a "
            "machine with more memory."
        )
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader of stdout went away (mfif methods | head -1)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:  # the system refused something: a full disk, a permission
        where = f"{error.filename}: " if error.filename else ""
        say(f"error: {where}{(error.strerror or str(error)).rstrip('.')}.")
        return EXIT_BAD_INPUT
    except Exception as error:  # noqa: BLE001 - a bug: one sentence, the traceback on request
        if debug:
            traceback.print_exc()
        detail = (str(error).strip().splitlines() or [""])[0][:200]
        say(
            f"internal error ({type(error).__name__}: {detail}); this is a bug in mfif, please "
            "report it with the command you ran (MFIF_DEBUG=1 prints the traceback)."
        )
        return EXIT_INTERNAL


@contextlib.contextmanager
def _log_to_stderr(verbose: bool) -> Iterator[None]:
    """mfif's log messages to the (current) stderr while a command runs; other libraries'
    log records (tifffile's warnings about a corrupt file, say) are not shown."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mfif: %(message)s"))
    level, propagate = _logger.level, _logger.propagate
    root = logging.getLogger()
    silence = logging.NullHandler() if not root.handlers else None
    if silence is not None:  # else logging's last resort prints them on stderr
        root.addHandler(silence)
    _logger.addHandler(handler)
    _logger.setLevel(logging.INFO if verbose else logging.WARNING)
    _logger.propagate = False
    try:
        yield
    finally:
        _logger.removeHandler(handler)
        if silence is not None:
            root.removeHandler(silence)
        _logger.setLevel(level)
        _logger.propagate = propagate


def _build_parser(arguments: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser of every command; the networks' training flags are built only for
    ``mfif train`` (they import the training modules: a fifth of a second)."""
    parser = Parser(
        prog="mfif",
        description="Multi-focus image fusion: merge photos focused at different depths into one "
        "image that is sharp everywhere.",
    )
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"mfif {__version__}")
    common = Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="report what is done")
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no summary line on success (it is printed only on a terminal)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in (fuse, batch, methods, demo, metrics, synth, bench):
        command.add_parser(commands, common)
    named = next((word for word in arguments if not word.startswith("-")), None)
    train.add_parser(commands, common, networks=named == "train")
    return parser
