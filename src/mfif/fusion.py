"""The one interface every method shares: `Fuser.fuse(stack) -> Fusion`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .color import luminance
from .options import Option
from .stack import Stack

__all__ = ["Fusion", "Fuser", "WeightedFuser", "blend"]


@dataclass(frozen=True)
class Fusion:
    """The result of fusing a stack.

    Attributes
    ----------
    image : ndarray of shape (s·H, s·W, C), float32 in [0, 1]
        The all-in-focus image; C as in the stack. s = 1 (the stack's size) except for
        methods that also super-resolve (``dfp`` with ``scale=s``).
    weights : ndarray of shape (N, s·H, s·W), float32 in [0, 1], or None
        Per-source weights summing to 1 at every pixel, at the size of ``image``, for methods
        that produce them.
    """

    image: np.ndarray
    weights: np.ndarray | None = None

    @property
    def depth(self) -> np.ndarray | None:
        """Index of the winning source per pixel, ndarray of shape (s·H, s·W), int; None without
        weights."""
        if self.weights is None:
            return None
        from .decision import winning_source

        return winning_source(self.weights)


class Fuser(ABC):
    """A fusion method. Subclasses set ``name`` and ``summary`` and implement `fuse`.

    Options are keyword arguments of the constructor; `fuse` never changes them.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    produces_weights: ClassVar[bool] = False  # True when `Fusion.weights` is filled
    external: ClassVar[bool] = False  # True when it runs another program
    parameter_count: ClassVar[int | None] = 0  # learned parameters; None if unknown
    # Constructor keyword -> type and range; `mfif.create` checks every option against it.
    options: ClassVar[dict[str, Option]] = {}

    @abstractmethod
    def fuse(self, stack: Stack) -> Fusion:
        """Fuse ``stack`` (N >= 2 images, grey or RGB) into one image, of the stack's size
        unless the method super-resolves (see `Fusion`)."""

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({options})"


class WeightedFuser(Fuser):
    """A method whose result is a per-pixel weighted sum of the sources (a decision map).

    Subclasses implement `weights` on the luminance stack; colour is carried by the same weights.
    """

    produces_weights = True

    @abstractmethod
    def weights(self, luma: np.ndarray) -> np.ndarray:
        """Weights (N, H, W) summing to 1 from the luminance stack (N, H, W) in [0, 1]."""

    def fuse(self, stack: Stack) -> Fusion:
        weights = self.weights(luminance(stack.images))
        return Fusion(image=blend(stack.images, weights), weights=weights)


_BLEND_EPSILON = 1e-5  # OpenCV's blendLinear adds it to the sum of the weights


def blend(images: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted sum of the sources.

    Parameters
    ----------
    images : ndarray of shape (N, H, W, C), float32 in [0, 1]
    weights : ndarray of shape (N, H, W), float32, summing to 1 per pixel

    Returns
    -------
    ndarray of shape (H, W, C), float32 in [0, 1]
    """
    if len(images) == 2 and images.shape[-1] in (1, 3):
        import cv2  # one multi-threaded pass instead of four numpy passes

        fused = cv2.blendLinear(images[0], images[1], weights[0], weights[1])
        fused = fused.reshape(images.shape[1:])
        # blendLinear divides by w1 + w2 + 1e-5; the weights sum to 1, so undo the 1e-5
        # (else a 16-bit white comes out one level darker).
        fused *= np.float32(1.0 + _BLEND_EPSILON)
        return np.clip(fused, 0.0, 1.0, out=fused)
    fused = images[0] * weights[0][..., None]
    term = np.empty_like(fused)
    for image, weight in zip(images[1:], weights[1:], strict=True):
        fused += np.multiply(image, weight[..., None], out=term)
    return np.clip(fused, 0.0, 1.0, out=fused)
