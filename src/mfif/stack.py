"""The `Stack` container: N registered images of one scene, focused at different depths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import StackError

__all__ = ["Stack"]


@dataclass(frozen=True)
class Stack:
    """A focus stack.

    Attributes
    ----------
    images : ndarray of shape (N, H, W, C), float32
        The sources in [0, 1]; C is 1 (grey) or 3 (RGB). N >= 2.
    bit_depth : {8, 16}
        Bit depth of the files the stack came from; output keeps it by default.
    names : tuple of str
        One name per source (file name, or ``source-<k>`` for arrays).
    """

    images: np.ndarray
    bit_depth: int = 8
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        images = self.images
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise StackError(
                f"A stack must have shape (N, H, W, 1) or (N, H, W, 3); got {images.shape}."
            )
        if images.shape[0] < 2:
            raise StackError(
                f"Fusion needs at least 2 images of the same scene; got {images.shape[0]}."
            )
        if images.dtype != np.float32:
            object.__setattr__(self, "images", images.astype(np.float32))
        if self.bit_depth not in (8, 16):
            raise StackError(f"bit_depth must be 8 or 16; got {self.bit_depth}.")
        if not self.names:
            names = tuple(f"source-{k}" for k in range(images.shape[0]))
            object.__setattr__(self, "names", names)
        elif len(self.names) != images.shape[0]:
            raise StackError(f"Got {len(self.names)} names for {images.shape[0]} images.")

    @property
    def count(self) -> int:
        """Number of sources N."""
        return int(self.images.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """Spatial size (H, W)."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def is_color(self) -> bool:
        """True for RGB stacks, False for grey."""
        return self.images.shape[-1] == 3

    @classmethod
    def from_arrays(
        cls,
        arrays: Sequence[np.ndarray],
        *,
        names: Sequence[str] = (),
        bit_depth: int | None = None,
    ) -> Stack:
        """Build a stack from in-memory images.

        Parameters
        ----------
        arrays : sequence of ndarray of shape (H, W) or (H, W, 3)
            uint8 (range 0..255), uint16 (0..65535) or float (already in [0, 1]).
            Grey and colour may not be mixed, and every image must have the same size.
        names : sequence of str, optional
            One name per image.
        bit_depth : {8, 16}, optional
            Bit depth for saving; inferred from the dtype (uint16 gives 16, otherwise 8).

        Returns
        -------
        Stack
        """
        if len(arrays) < 2:
            raise StackError(
                f"Fusion needs at least 2 images of the same scene; got {len(arrays)}."
            )
        labels = list(names) or [f"source-{k}" for k in range(len(arrays))]
        converted = [
            _to_float(np.asarray(a), label) for a, label in zip(arrays, labels, strict=True)
        ]
        check_compatible([c.shape for c in converted], labels)
        if bit_depth is None:
            bit_depth = 16 if any(np.asarray(a).dtype == np.uint16 for a in arrays) else 8
        images = np.stack([c if c.ndim == 3 else c[..., None] for c in converted])
        return cls(images=images, bit_depth=bit_depth, names=tuple(labels))


def check_compatible(shapes: Sequence[tuple[int, ...]], names: Sequence[str]) -> None:
    """Raise `StackError` unless all images share size and channel count."""
    first, first_name = shapes[0], names[0]
    for shape, name in zip(shapes[1:], names[1:], strict=True):
        if shape[:2] != first[:2]:
            raise StackError(
                f"All images of a stack must have the same size: {first_name} is "
                f"{first[1]}x{first[0]} but {name} is {shape[1]}x{shape[0]}."
            )
        first_channels = first[2] if len(first) == 3 else 1
        channels = shape[2] if len(shape) == 3 else 1
        if channels != first_channels:
            kinds = {1: "grey", 3: "colour"}
            raise StackError(
                f"Grey and colour images cannot be mixed in one stack: {first_name} is "
                f"{kinds.get(first_channels, first_channels)} but {name} is "
                f"{kinds.get(channels, channels)}."
            )


def _to_float(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise StackError(f"{name} must have shape (H, W) or (H, W, 3); got {array.shape}.")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise StackError(f"{name} contains NaN or infinite values.")
        low, high = float(array.min()), float(array.max())
        # Rounding in filters leaves values a hair outside [0, 1]; those are clipped.
        if low < -1e-3 or high > 1.0 + 1e-3:
            raise StackError(
                f"{name} is a float image outside [0, 1] (range {low:.6g}..{high:.6g}); "
                "scale it to [0, 1] or pass uint8/uint16."
            )
        return np.clip(array, 0.0, 1.0).astype(np.float32, copy=False)
    raise StackError(f"{name} has unsupported dtype {array.dtype}; use uint8, uint16 or float.")
