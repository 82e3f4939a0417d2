"""Errors a user can cause. Each carries one clear sentence; the CLI prints it and exits 2.

Exit statuses of the ``mfif`` command: 0 success; 2 bad input (any `MfifError`, a bad
command-line argument, not enough memory for the input); 130 interrupted (Ctrl-C); 143
terminated (SIGTERM); 1 an internal error (a bug in mfif: please report it).
"""

__all__ = [
    "MfifError",
    "ImageReadError",
    "StackError",
    "UnknownMethodError",
    "OutputError",
    "OptionError",
    "AlignmentError",
    "MetricError",
    "did_you_mean",
    "EXIT_OK",
    "EXIT_INTERNAL",
    "EXIT_BAD_INPUT",
    "EXIT_STACK_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
]

import difflib
from collections.abc import Iterable

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_STACK_FAILED = 3  # mfif batch: the batch ran, and at least one stack failed
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM


class MfifError(Exception):
    """Base class of every error caused by the user's input or options."""


class ImageReadError(MfifError):
    """A file is missing, unreadable, too large, or not an image we can decode."""


class StackError(MfifError, ValueError):
    """The images do not form a valid stack (count, sizes, channels, sample values)."""


class UnknownMethodError(MfifError, KeyError):
    """No fusion method is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class OutputError(MfifError):
    """An output cannot be written, would overwrite an input, or collides with another output."""


class OptionError(MfifError, ValueError):
    """An option has a wrong name or value."""


class AlignmentError(MfifError):
    """A frame cannot be registered to its neighbour (too little overlap, another scene)."""


class MetricError(MfifError, ValueError):
    """A metric is undefined for the given images (sizes, count, or degenerate content)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'gff'?)"`` for the closest of ``choices`` to a mistyped ``word``
    (case ignored), or "" when none is close."""
    choices = list(choices)
    folded = {choice.casefold(): choice for choice in choices}
    close = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""
