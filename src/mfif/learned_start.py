"""The learned ×2 start of back-projection (`mfif.models.enlarger.Enlarger`, shipped weights
``enlarger.x2``): Lanczos-4 interpolation plus the network's luminance correction, the same
in every colour channel. Torch is imported only when it runs."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

__all__ = ["PRETRAINED", "learned_start", "load_enlarger"]

PRETRAINED = "enlarger.x2"
_TILE = 512  # small pixels a side: memory stays bounded whatever the image's size
_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def load_enlarger(weights: str | os.PathLike | None = None):
    """The `Enlarger` of ``weights`` (a file) or of the shipped ``enlarger.x2``, in eval mode.

    Raises
    ------
    MfifError
        No weights are shipped under that name, or the file does not match the manifest.
    """
    import torch

    from .models.enlarger import Enlarger
    from .weights import weights_file

    path = weights if weights is not None else weights_file(PRETRAINED)[0]
    state = torch.load(path, map_location="cpu", weights_only=True)
    return Enlarger.from_state_dict(state.get("model", state)).eval()


def learned_start(
    image: np.ndarray, weights: str | os.PathLike | None = None, *, model=None
) -> np.ndarray:
    """``image`` enlarged ×2: Lanczos-4 interpolation of every channel plus the network's
    correction of the luminance (Rec. 601 weights), added to each channel.

    Parameters
    ----------
    image : ndarray of shape (h, w) or (h, w, C), float32 in [0, 1]
    weights : path-like, optional
        An exported `Enlarger`; default the shipped ``enlarger.x2``.
    model : Enlarger, optional
        A model instead of weights (training validates the model it trains).

    Returns
    -------
    ndarray of shape (2h, 2w) or (2h, 2w, C), float32, unclipped (back-projection follows).
    """
    import cv2
    import torch

    from .color import luminance
    from .tiling import run_tiled

    image = np.ascontiguousarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    size = (2 * width, 2 * height)
    model = load_enlarger(weights) if model is None else model
    grey = image if image.ndim == 2 else luminance(image)
    grey = np.ascontiguousarray(grey, dtype=np.float32)

    def corrected(tile: np.ndarray) -> np.ndarray:
        small = tile[0]
        interpolated = cv2.resize(
            small, (2 * small.shape[1], 2 * small.shape[0]), interpolation=cv2.INTER_LANCZOS4
        )
        with torch.inference_mode():
            result = model(
                torch.from_numpy(small)[None, None], torch.from_numpy(interpolated)[None, None]
            )
        return (result[0] - torch.from_numpy(interpolated)).numpy()

    with _LOCK:  # one image at a time uses every core
        correction = run_tiled(corrected, grey[None], tile=_TILE, overlap=2 * model.reach, scale=2)[
            0
        ]
    enlarged = cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)
    enlarged = enlarged.reshape(size[1], size[0], *image.shape[2:])
    return enlarged + (correction[..., None] if enlarged.ndim == 3 else correction)
