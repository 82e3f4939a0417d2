"""`mfif.fuse`: the one-call Python entry point."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from .errors import StackError
from .fusion import Fusion
from .io import load_stack
from .methods import DEFAULT_METHOD, create
from .stack import Stack

__all__ = ["fuse", "as_stack"]

ImagesOrPaths = Stack | Sequence[np.ndarray] | Sequence[str | os.PathLike] | str | os.PathLike


def as_stack(images_or_paths: ImagesOrPaths) -> Stack:
    """Turn a `Stack`, a sequence of arrays, or paths (files, folders, globs, a multi-page TIFF)
    into a `Stack`."""
    if isinstance(images_or_paths, Stack):
        return images_or_paths
    if isinstance(images_or_paths, np.ndarray):
        if images_or_paths.ndim not in (3, 4):
            raise StackError(
                "An array stack must have shape (N, H, W) or (N, H, W, C); "
                f"got {images_or_paths.shape}."
            )
        return Stack.from_arrays(list(images_or_paths))
    if isinstance(images_or_paths, (str, os.PathLike)):
        return load_stack(images_or_paths)
    items = list(images_or_paths) if isinstance(images_or_paths, Iterable) else None
    if items and all(isinstance(item, np.ndarray) for item in items):
        return Stack.from_arrays(items)
    if items is None or not all(isinstance(item, (str, os.PathLike)) for item in items):
        kind = type(images_or_paths).__name__
        raise StackError(
            f"Give a Stack, a sequence of arrays, or image paths (files, folders, globs); got "
            f"{kind if items is None else 'a sequence mixing other things'}."
        )
    return load_stack(items)


def fuse(images_or_paths: ImagesOrPaths, method: str = DEFAULT_METHOD, **options: object) -> Fusion:
    """Fuse a focus stack into one all-in-focus image.

    Parameters
    ----------
    images_or_paths : Stack, sequence of ndarray, or path(s)
        N >= 2 images of one scene and size: arrays of shape (H, W) or (H, W, 3) (uint8, uint16,
        or float in [0, 1]), or image files, a folder, a glob pattern, or one multi-page TIFF.
    method : str
        A registered method name (see `mfif.list_methods`).
    **options
        Options of the method's constructor.

    Returns
    -------
    Fusion
        ``image`` (H, W, C) float32 in [0, 1]; ``weights`` (N, H, W) summing to 1 where the
        method has them, else None; ``depth`` (H, W) index of the winning source.

    Examples
    --------
    >>> import numpy as np, mfif
    >>> sharp = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> result = mfif.fuse([sharp, sharp], method="gff")
    >>> bool(np.allclose(result.image[..., 0], sharp, atol=1e-5))
    True
    """
    stack = as_stack(images_or_paths)
    return create(method, **options).fuse(stack)
