"""Lanczos-2 downsampling by an integer factor: DFP's degradation model (Algorithm 1, line 6).

The same separable filter in numpy (for building low-resolution inputs) and in torch (inside
DFP's loss, where gradients must pass it). Output pixel ``i`` is centred on input coordinate
``(i + 0.5)·s − 0.5``, so the image's extent is kept (as with area averaging); borders are
mirrored without repeating the edge pixel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: the numpy path must start fast
    import torch

__all__ = ["lanczos2_downsample", "lanczos2_kernel", "lanczos2_downsample_torch"]


def lanczos2_kernel(factor: int) -> np.ndarray:
    """The 1-D Lanczos-2 taps for downsampling by ``factor``.

    Parameters
    ----------
    factor : int
        Downsampling factor s >= 1.

    Returns
    -------
    ndarray of shape (4·s,), float64, summing to 1 (shape (1,) = [1.0] for s = 1)
    """
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"the downsampling factor must be a positive integer, not {factor}")
    factor = int(factor)
    if factor == 1:
        return np.ones(1)
    # Tap offsets from the output pixel's centre, in input pixels, scaled to the kernel's support.
    offsets = (np.arange(4 * factor) - 2 * factor + 0.5) / factor
    taps = np.sinc(offsets) * np.sinc(offsets / 2)  # Lanczos window, a = 2
    return taps / taps.sum()


def _check_divisible(height: int, width: int, factor: int) -> None:
    if height % factor or width % factor:
        raise ValueError(
            f"a {width}x{height} image cannot be downsampled by {factor}: "
            "both sides must be multiples of the factor"
        )


def lanczos2_downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Downsample by ``factor`` with a Lanczos-2 filter.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), float
        Both H and W must be multiples of ``factor``.
    factor : int
        s >= 1; s = 1 returns a float32 copy.

    Returns
    -------
    ndarray of shape (H/s, W/s) or (H/s, W/s, C), float32. Values may overshoot the input's
    range slightly (the filter has negative lobes).
    """
    taps = lanczos2_kernel(factor)
    height, width = image.shape[:2]
    _check_divisible(height, width, factor)
    result = np.asarray(image, dtype=np.float64)
    if factor > 1:
        pad = 3 * factor // 2
        for axis in (0, 1):
            widths = [(0, 0)] * result.ndim
            widths[axis] = (pad, pad)
            padded = np.pad(result, widths, mode="reflect")
            windows = np.lib.stride_tricks.sliding_window_view(padded, taps.size, axis=axis)
            windows = np.take(windows, np.arange(0, windows.shape[axis], factor), axis=axis)
            result = windows @ taps
    return result.astype(np.float32)


def lanczos2_downsample_torch(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Differentiable Lanczos-2 downsampling of a (B, C, H, W) tensor by ``factor``.

    Parameters
    ----------
    images : torch.Tensor of shape (B, C, H, W), float
        H and W must be multiples of ``factor``.
    factor : int
        s >= 1; s = 1 returns ``images`` itself.

    Returns
    -------
    torch.Tensor of shape (B, C, H/s, W/s), the same dtype and device
    """
    import torch
    from torch.nn import functional as F

    if factor == 1:
        return images
    batch, channels, height, width = images.shape
    _check_divisible(height, width, factor)
    taps = torch.as_tensor(lanczos2_kernel(factor), dtype=images.dtype, device=images.device)
    pad = 3 * factor // 2
    flat = images.reshape(batch * channels, 1, height, width)
    flat = F.pad(flat, (pad, pad, pad, pad), mode="reflect")
    flat = F.conv2d(flat, taps.view(1, 1, -1, 1), stride=(factor, 1))
    flat = F.conv2d(flat, taps.view(1, 1, 1, -1), stride=(1, factor))
    return flat.reshape(batch, channels, height // factor, width // factor)
