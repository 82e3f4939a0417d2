"""What a method's options are, for ``mfif methods NAME``: each option's allowed values (its
`Option`), its default (the constructor's) and its description (the ``Parameters`` section of
the class's numpy docstring, or of the class it derives from)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from .registry import method_class

__all__ = ["OptionHelp", "option_help"]


@dataclass(frozen=True)
class OptionHelp:
    """One option of a method.

    Attributes
    ----------
    name : str
    allowed : str
        What it accepts, in words ("an integer from 1 to 8").
    default : object
        The constructor's default, or the class's ``default_<name>`` where the constructor's
        is None (None: the method's own choice, which its description states).
    text : str
        Its description, from the docstring ("" when the docstring has none).
    """

    name: str
    allowed: str
    default: object
    text: str


def option_help(method: str) -> list[OptionHelp]:
    """Every option of ``method``, in the order the method lists them.

    Raises
    ------
    UnknownMethodError
        No method of that name.
    """
    cls = method_class(method)
    descriptions: dict[str, str] = {}
    for ancestor in reversed(cls.__mro__):  # a subclass's words override its parent's
        descriptions.update(_parameters(inspect.getdoc(ancestor) or ""))
    signature = inspect.signature(cls.__init__).parameters
    found = []
    for name, option in cls.options.items():
        default = signature[name].default if name in signature else None
        default = None if default is inspect.Parameter.empty else default
        if default is None:  # a default a subclass sets (udpnet-paper's soft decision)
            default = getattr(cls, f"default_{name}", None)
        found.append(OptionHelp(name, option.describe(), default, descriptions.get(name, "")))
    return found


def _parameters(docstring: str) -> dict[str, str]:
    """The entries of a numpy docstring's ``Parameters`` section: name -> description (the
    names of an entry such as ``width, depth : int`` share it)."""
    lines = docstring.splitlines() + [""]
    titles = [i for i in range(len(lines) - 1) if set(lines[i + 1].strip()) == {"-"}]
    start = next((i for i in titles if lines[i].strip() == "Parameters"), None)
    if start is None:
        return {}
    end = next((i for i in titles if i > start), len(lines))
    entries: dict[str, str] = {}
    names: list[str] = []
    for line in lines[start + 2 : end]:
        if line and not line.startswith(" "):  # "name[, name] : type"
            names = [name.strip() for name in line.split(" : ")[0].split(",")]
            entries.update(dict.fromkeys(names, ""))
        elif line.strip() and names:
            for name in names:
                entries[name] = f"{entries[name]} {line.strip()}".strip()
    return entries
