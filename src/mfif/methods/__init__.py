"""Fusion methods, one module each, registered by name (`mfif.methods.registry`).

Importing this package imports every method module, which registers its classes; none imports
torch until a network method is created, so the classical path stays fast.
"""

from __future__ import annotations

from . import (  # noqa: F401  (importing a method module registers its classes)
    dfp,
    external,
    gff,
    guided_decision,
    maxgrad,
    msa_siamese,
    multiscale,
    spatial_frequency,
    udpnet,
    ufa_fuse,
)
from .registry import (
    DEFAULT_METHOD,
    create,
    is_trained,
    list_methods,
    method_class,
    pretrained_name,
    register,
    summary,
)

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
