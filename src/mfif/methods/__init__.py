"""Registry of fusion methods: name -> `Fuser` class, each with a one-line summary.

Classical methods are registered on import (numpy and OpenCV only); methods that need torch are
registered by module path and imported only when created, so the classical path stays fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import UnknownMethodError
from ..fusion import Fuser
from ..options import check_options

__all__ = [
    "DEFAULT_METHOD",
    "register",
    "create",
    "list_methods",
    "summary",
    "pretrained_name",
    "is_trained",
]

DEFAULT_METHOD = "guided-decision"


@dataclass(frozen=True)
class _Entry:
    summary: str
    target: str | type[Fuser]  # a class, or "module:Class" imported on demand
    pretrained: str | None = None  # the manifest name of a network method's shipped weights
    slow: bool = False  # fits a network to every stack (minutes per image on CPU)


_registry: dict[str, _Entry] = {}


def register(cls: type[Fuser]) -> type[Fuser]:
    """Class decorator: register a `Fuser` under its ``name``."""
    if cls.name in _registry:
        raise ValueError(f"A method named {cls.name!r} is already registered.")
    _registry[cls.name] = _Entry(cls.summary, cls)
    return cls


def register_lazy(
    name: str, target: str, summary: str, pretrained: str | None = None, *, slow: bool = False
) -> None:
    """Register a method by ``"module:Class"`` path, imported only by `create`; a network
    method names its shipped weights (``architecture.tag``); ``slow`` marks a method that
    optimises per stack (left out of default method lists)."""
    _registry[name] = _Entry(summary, target, pretrained, slow)


def is_trained(name: str) -> bool:
    """False for a network method whose weights are not shipped yet (it cannot run without
    weights=PATH); True otherwise."""
    from ..weights import pretrained_config

    weights = pretrained_name(name)
    return weights is None or pretrained_config(weights) is not None


def pretrained_name(name: str) -> str | None:
    """The manifest name of the weights method ``name`` ships, or None (no network)."""
    return _lookup(name).pretrained


def list_methods(*, include_external: bool = True, include_slow: bool = True) -> list[str]:
    """Names of all registered methods, sorted; ``include_external=False`` leaves out those that run
    another program (enfuse), ``include_slow=False`` those that fit a network to every stack
    (dfp: minutes per image on CPU)."""
    names = sorted(_registry)
    if not include_external:
        names = [n for n in names if not getattr(_registry[n].target, "external", False)]
    if not include_slow:
        names = [n for n in names if not _registry[n].slow]
    return names


def summary(name: str) -> str:
    """The one-line description of a method."""
    return _lookup(name).summary


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
    target = _lookup(name).target
    if isinstance(target, str):
        module, _, attribute = target.partition(":")
        target = getattr(importlib.import_module(module), attribute)
    return target(**check_options(name, target.options, options))


def _lookup(name: str) -> _Entry:
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(list_methods())
        raise UnknownMethodError(f"Unknown method {name!r}; choose one of: {known}.") from None


# Learned methods import torch: registered by path, imported when created.
register_lazy(
    "udpnet",
    "mfif.methods.udpnet:UDPNetFuser",
    "UDPNet (Quan et al.), mfif's recipe: Laplacian initial masks, clean decision map",
    pretrained="udpnet.mfif",
)
register_lazy(
    "udpnet-paper",
    "mfif.methods.udpnet:UDPNetPaperFuser",
    "UDPNet as published: eq. (3) gradient masks, soft eq. (1) fusion",
    pretrained="udpnet.paper",
)
register_lazy(
    "ufa-fuse",
    "mfif.methods.ufa_fuse:UFAFuseFuser",
    "UFA-Fuse (Zang et al.), mfif's: unity fusion attention, residual over attended sources",
    pretrained="ufa_fuse.cpu-residual",
)
register_lazy(
    "ufa-fuse-paper",
    "mfif.methods.ufa_fuse:UFAFusePaperFuser",
    "UFA-Fuse, the paper's network: it redraws the whole fused image (no residual)",
    pretrained="ufa_fuse.cpu",
)
register_lazy(
    "msa-siamese",
    "mfif.methods.msa_siamese:MSASiameseFuser",
    "MSA-Siamese (Zhai et al.): Siamese decision-map network, multi-scale attention",
    pretrained="msa_siamese.cpu",
)
register_lazy(
    "dfp",
    "mfif.methods.dfp:DFPFuser",
    "DFP (Deep Fusion Prior): per-stack deep prior on DoubleReblur's map, fusion + ×s SR",
    slow=True,
)

# Importing a method module registers its classes.
from . import (  # noqa: E402, F401
    external,
    gff,
    guided_decision,
    maxgrad,
    multiscale,
    spatial_frequency,
)
