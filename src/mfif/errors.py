"""Errors a user can cause. Each carries one clear sentence; the CLI prints it and exits 2."""

__all__ = [
    "MfifError",
    "ImageReadError",
    "StackError",
    "UnknownMethodError",
    "OutputError",
    "OptionError",
]


class MfifError(Exception):
    """Base class of every error caused by the user's input or options."""


class ImageReadError(MfifError):
    """A file is missing, unreadable, or not an image we can decode."""


class StackError(MfifError, ValueError):
    """The images do not form a valid stack (count, sizes, channels)."""


class UnknownMethodError(MfifError, KeyError):
    """No fusion method is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class OutputError(MfifError):
    """The output path cannot be written, or would overwrite an input."""


class OptionError(MfifError, ValueError):
    """An option has a wrong name or value."""
