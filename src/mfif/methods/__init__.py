"""Fusion methods, one module each, registered by name (`mfif.methods.registry`).

Importing this package imports every module in it, which registers its classes with the
`register` decorator: a new method is a new module here and nothing else. No method module
imports torch until a network method is created, so the classical path stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil

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

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
