"""mfif: multi-focus image fusion (focus stacking).

Quick use::

    import mfif
    result = mfif.fuse(["near.png", "far.png"])      # default method
    mfif.save_image("fused.png", result.image)

Importing mfif does not import torch; learned methods import it when they are created.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import (
    ImageReadError,
    MfifError,
    OptionError,
    OutputError,
    StackError,
    UnknownMethodError,
)

# The rest is imported on first use, so that `mfif` on the command line answers Ctrl-C with
# one sentence from its first instant (numpy, OpenCV and the methods take ~0.2 s to import).
_LAZY = {
    "fuse": ".api",
    "fuse_to_file": ".api",
    "batch": ".batching",
    "Fuser": ".fusion",
    "Fusion": ".fusion",
    "load_stack": ".io",
    "read_image": ".io",
    "save_image": ".io",
    "DEFAULT_METHOD": ".methods",
    "create": ".methods",
    "list_methods": ".methods",
    "Stack": ".stack",
}

if TYPE_CHECKING:
    from .api import fuse, fuse_to_file
    from .batching import batch
    from .fusion import Fuser, Fusion
    from .io import load_stack, read_image, save_image
    from .methods import DEFAULT_METHOD, create, list_methods
    from .stack import Stack


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'mfif' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DEFAULT_METHOD",
    "Fuser",
    "Fusion",
    "ImageReadError",
    "MfifError",
    "OptionError",
    "OutputError",
    "Stack",
    "StackError",
    "UnknownMethodError",
    "batch",
    "create",
    "fuse",
    "fuse_to_file",
    "list_methods",
    "load_stack",
    "read_image",
    "save_image",
    "__version__",
]
