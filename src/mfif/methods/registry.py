"""The registry of fusion methods: name -> `Fuser` class. Each method registers itself with the
`register` decorator in its own module; its summary, shipped weights (``pretrained``) and
whether it is ``slow`` are attributes of the class, written once."""

from __future__ import annotations

from ..errors import UnknownMethodError, did_you_mean
from ..fusion import Fuser
from ..options import check_options

__all__ = [
    "DEFAULT_METHOD",
    "register",
    "create",
    "method_class",
    "list_methods",
    "summary",
    "pretrained_name",
    "is_trained",
]

DEFAULT_METHOD = "guided-decision"

_registry: dict[str, type[Fuser]] = {}


def register(cls: type[Fuser]) -> type[Fuser]:
    """Class decorator: register a `Fuser` under its ``name``."""
    if cls.name in _registry:
        raise ValueError(f"A method named {cls.name!r} is already registered.")
    _registry[cls.name] = cls
    return cls


def method_class(name: str) -> type[Fuser]:
    """The `Fuser` class registered as ``name``.

    Raises
    ------
    UnknownMethodError
        No method of that name.
    """
    if name in _registry:
        return _registry[name]
    folded = {known.casefold(): cls for known, cls in _registry.items()}
    if name.strip().casefold() in folded:  # GFF, Guided-Decision
        return folded[name.strip().casefold()]
    raise UnknownMethodError(
        f"Unknown method {name!r}{did_you_mean(name, list_methods())}; choose one of: "
        f"{', '.join(list_methods())}."
    )


def is_trained(name: str) -> bool:
    """False for a network method whose weights are not shipped yet (it cannot run without
    weights=PATH); True otherwise."""
    from ..weights import pretrained_config

    weights = pretrained_name(name)
    return weights is None or pretrained_config(weights) is not None


def pretrained_name(name: str) -> str | None:
    """The manifest name of the weights method ``name`` ships, or None (no network)."""
    return method_class(name).pretrained


def list_methods(*, include_external: bool = True, include_slow: bool = True) -> list[str]:
    """Names of all registered methods, sorted; ``include_external=False`` leaves out those that run
    another program (enfuse), ``include_slow=False`` those that fit a network to every stack
    (dfp: minutes per image on CPU)."""
    return sorted(
        name
        for name, cls in _registry.items()
        if (include_external or not cls.external) and (include_slow or not cls.slow)
    )


def summary(name: str) -> str:
    """The one-line description of a method."""
    return method_class(name).summary


def create(name: str, **options: object) -> Fuser:
    """Build the `Fuser` registered as ``name`` with its options.

    Every option is checked against the method's ``options`` (name, type, range) before the
    method is built.

    Raises
    ------
    UnknownMethodError
        No method of that name.
    OptionError
        An option the method does not have, or a value of the wrong type or range.
    """
    cls = method_class(name)
    return cls(**check_options(name, cls.options, options))
