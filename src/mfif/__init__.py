"""mfif: multi-focus image fusion (focus stacking).

Quick use::

    import mfif
    result = mfif.fuse(["near.png", "far.png"])      # default method
    mfif.save_image("fused.png", result.image)

Importing mfif does not import torch; learned methods import it when they are created.
"""

from .api import fuse, fuse_to_file
from .batching import batch
from .errors import (
    ImageReadError,
    MfifError,
    OptionError,
    OutputError,
    StackError,
    UnknownMethodError,
)
from .fusion import Fuser, Fusion
from .io import load_stack, read_image, save_image
from .methods import DEFAULT_METHOD, create, list_methods
from .stack import Stack

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
]

__version__ = "0.1.0"
