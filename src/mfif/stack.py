"""The `Stack` container: N registered images of one scene, focused at different depths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import StackError

__all__ = ["Stack", "check_compatible", "check_unit_range", "to_unit_float", "bit_depth_of"]


@dataclass(frozen=True)
class Stack:
    """A focus stack.

    Attributes
    ----------
    images : ndarray of shape (N, H, W, C), float32
        The sources in [0, 1]; C is 1 (grey) or 3 (RGB). N >= 2.
    bit_depth : {8, 16, 32}
        Bit depth of the files the stack came from (32: floating point); output keeps it by
        default where the output format can hold it.
    names : tuple of str
        One name per source (file name, or ``source-<k>`` for arrays).
    valid : ndarray of shape (H, W), bool, or None
        After alignment without cropping: the pixels every frame covers (elsewhere frames were
        filled from their neighbours). None when every pixel is valid.
    """

    images: np.ndarray
    bit_depth: int = 8
    names: tuple[str, ...] = field(default=())
    valid: np.ndarray | None = None

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
        if self.bit_depth not in (8, 16, 32):
            raise StackError(f"bit_depth must be 8, 16 or 32; got {self.bit_depth}.")
        if images.shape[1] == 0 or images.shape[2] == 0:
            raise StackError(f"The images of a stack may not be empty; got shape {images.shape}.")
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
    def shape(self) -> tuple[int, int, int, int]:
        """(N, H, W, C), as a frame source's."""
        return tuple(int(n) for n in self.images.shape)  # type: ignore[return-value]

    @property
    def size(self) -> tuple[int, int]:
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
            uint8 (range 0..255), uint16 (0..65535) or float (already in [0, 1]; see
            `to_unit_float`). Grey and colour may not be mixed, and every image must have the
            same size.
        names : sequence of str, optional
            One name per image.
        bit_depth : {8, 16, 32}, optional
            Bit depth for saving; inferred from the dtypes (the deepest of: uint8 8, uint16 16,
            float 32).

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
            bit_depth = max(bit_depth_of(np.asarray(a).dtype) for a in arrays)
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


def to_unit_float(
    array: np.ndarray, name: str, *, out: np.ndarray | None = None, advice: str = ""
) -> np.ndarray:
    """Samples as float32 in [0, 1]: the one dtype policy for files and arrays alike.

    Parameters
    ----------
    array : ndarray
        bool, uint8 (0..255), uint16 (0..65535) or float already in [0, 1]. Float samples
        within 1e-3 of [0, 1] (filter rounding) are clipped; others, and NaN or infinity, are
        refused: mfif never guesses the range of float data.
    name : str
        How the image is named in messages.
    out : ndarray of float32, optional
        Written in place when given (same shape as ``array``).
    advice : str
        Appended to the message about float samples out of range (how to fix a file, say).

    Returns
    -------
    ndarray of float32, same shape as ``array``

    Raises
    ------
    StackError
        Another sample type, non-finite samples, or float samples outside [0, 1].
    """
    if out is None:
        out = np.empty(array.shape, dtype=np.float32)
    if array.dtype in (np.uint8, np.uint16):
        # Cast, then scale in place: the same float32 products as one mixed-type multiply,
        # which NumPy computes through small casting buffers, several times slower.
        np.copyto(out, array, casting="unsafe")
        out *= np.float32(1 / 255) if array.dtype == np.uint8 else np.float32(1 / 65535)
    elif array.dtype == np.bool_:
        out[...] = array
    elif np.issubdtype(array.dtype, np.floating):
        check_unit_range(array, name, advice=advice)
        np.clip(array, 0.0, 1.0, out=out, casting="unsafe")
    else:
        raise StackError(
            f"{name} has samples of type {array.dtype}; mfif reads 8- or 16-bit unsigned "
            "integers or floating point in [0, 1]."
        )
    return out


def check_unit_range(array: np.ndarray, name: str, *, advice: str = "") -> None:
    """Raise `StackError` unless the float ``array`` is finite and within 1e-3 of [0, 1] (the
    range `to_unit_float` accepts, before it clips)."""
    if not np.isfinite(array).all():
        raise StackError(f"{name} contains NaN or infinite samples; mfif cannot fuse them.")
    low, high = float(array.min()), float(array.max())
    if low < -1e-3 or high > 1.0 + 1e-3:
        raise StackError(
            f"{name} holds floating-point samples from {low:.6g} to {high:.6g}, outside "
            f"[0, 1]; scale them to [0, 1] (for example divide by {max(abs(low), high):.6g})"
            f"{advice}."
        )


def bit_depth_of(dtype: np.dtype) -> int:
    """Bit depth a source of this sample type keeps on output: 8, 16, or 32 for float."""
    if dtype == np.uint16:
        return 16
    if np.issubdtype(dtype, np.floating):
        return 32
    return 8


def _to_float(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise StackError(f"{name} must have shape (H, W) or (H, W, 3); got {array.shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise StackError(f"{name} is empty ({array.shape[1]}x{array.shape[0]} pixels).")
    return to_unit_float(array, name)
