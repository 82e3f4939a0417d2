"""Typed, ranged settings: the one vocabulary of method options, command-line flags and
training-recipe fields.

Each `Fuser` lists its options in ``Fuser.options``, a dict from the constructor's keyword to an
`Option`. `check_options` converts and checks the values a user gave and names the option,
the value and what is allowed when one is wrong. Values from the command line arrive as
Python literals or plain strings, so ``"true"``, ``"false"`` and ``"none"`` are understood too.
The command line's typed flags (`Option.argument_type`) and the fields of the training recipes
(`mfif.training.recipes`) are `Option` s as well.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import OptionError

__all__ = ["Option", "check_options"]


@dataclass(frozen=True)
class Option:
    """Type and range of one option.

    Attributes
    ----------
    kind : {"int", "float", "bool", "str", "path", "text"}
        "str" is one of ``choices``; "text" any string.
    low, high : float, optional
        Bounds of a number; inclusive unless ``low_open`` / ``high_open``.
    choices : tuple of str, or a callable returning one, optional
        Allowed strings (a callable is evaluated only when needed, to keep imports lazy).
    optional : bool
        None is allowed (it means "the method's default behaviour").
    allowed : str, optional
        Describes the allowed values in messages, when the default description is too long.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None
    optional: bool = False
    allowed: str | None = None

    def describe(self) -> str:
        """What the option accepts, as words ("an integer from 1 to 1001")."""
        if self.allowed:
            text = self.allowed
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "path":
            text = "a file path"
        elif self.kind == "text":
            text = "text"
        elif self.kind == "str":
            text = "one of " + ", ".join(repr(c) for c in self._choices())
        else:
            noun = "an integer" if self.kind == "int" else "a number"
            text = noun + self._range()
        return text + (" (or none)" if self.optional else "")

    def check(self, method: str, name: str, value: object) -> object:
        """The value converted to the option's type; `OptionError` if it is not allowed."""
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            if self.optional:
                return None
            self._refuse(method, name, value)
        converted = self._convert(value)
        if converted is _INVALID:
            self._refuse(method, name, value)
        return converted

    def parse(self, text: str) -> object:
        """A command-line word converted to the option's type and checked.

        Raises
        ------
        ValueError
            Saying what is allowed ("must be an integer ≥ 1; got 'x'").
        """
        value: object = text
        if self.kind in ("int", "float"):
            try:
                value = int(text) if self.kind == "int" else float(text)
            except ValueError:
                value = _INVALID
        converted = _INVALID if value is _INVALID else self._convert(value)
        if converted is _INVALID:
            raise ValueError(f"must be {self.describe()}; got {text!r}")
        return converted

    def argument_type(self) -> Callable[[str], object]:
        """`parse` as an argparse ``type``: a bad value is argparse's one-line error."""
        import argparse

        def parse(text: str) -> object:
            try:
                return self.parse(text)
            except ValueError as error:
                raise argparse.ArgumentTypeError(str(error)) from None

        return parse

    def _convert(self, value: object) -> object:
        if self.kind == "text":
            return value if isinstance(value, str) else _INVALID
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
                return _BOOLEANS[value.strip().lower()]
            return _INVALID
        if self.kind == "path":
            return value if isinstance(value, (str, os.PathLike)) and os.fspath(value) else _INVALID
        if self.kind == "str":
            return value if isinstance(value, str) and value in self._choices() else _INVALID
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _INVALID
        if self.kind == "int" and not isinstance(value, int):
            return _INVALID
        if not math.isfinite(value) or not self._in_range(value):
            return _INVALID
        return int(value) if self.kind == "int" else float(value)

    def _in_range(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def _range(self) -> str:
        low, high = _number(self.low), _number(self.high)
        if self.low is not None and self.high is not None and not (self.low_open or self.high_open):
            return f" from {low} to {high}"
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '≥'} {low}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '≤'} {high}")
        return " " + " and ".join(parts) if parts else ""

    def _choices(self) -> tuple[str, ...]:
        choices = self.choices() if callable(self.choices) else self.choices
        return tuple(choices or ())

    def _refuse(self, method: str, name: str, value: object) -> None:
        raise OptionError(
            f"The option {name} of method {method!r} must be {self.describe()}; got {value!r}."
        )


_INVALID = object()
_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))  # 2147483647, not 2.14748e+09
    return f"{value:g}"


def check_options(
    method: str, specification: Mapping[str, Option], values: Mapping[str, object]
) -> dict[str, object]:
    """Check every given option of ``method`` against its specification.

    Returns
    -------
    dict
        The values converted to their types (ints stay ints, "true" becomes True).

    Raises
    ------
    OptionError
        An option the method does not have, or a value of the wrong type or range.
    """
    checked: dict[str, object] = {}
    for name, value in values.items():
        if name not in specification:
            if specification:
                known = ", ".join(specification)
                message = f"The method {method!r} has no option {name!r}; its options are {known}."
            else:
                message = f"The method {method!r} takes no options; got {name!r}."
            raise OptionError(message)
        checked[name] = specification[name].check(method, name, value)
    return checked
