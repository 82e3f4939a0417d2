"""Building blocks shared by mfif's networks. Tensors are (B, C, H, W)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ConvBlock",
    "NonLocalBlock",
    "SkipUNet",
    "ReflectBorderConv2d",
    "max_pool_2x2",
    "reflect_borders_only",
]


class ReflectBorderConv2d(nn.Module):
    """A convolution with reflected borders, computed without a padded copy of its input: the
    convolution with zero padding (which oneDNN does in place), then the outputs whose window
    reaches past the input's edge computed again, all at once, as one matrix product of the
    weights with their reflected windows gathered from the input. The same output as ``conv``
    (``padding_mode="reflect"``, any stride, dilation and groups) up to rounding.

    A padded copy of every feature map cost a quarter of MSA-Siamese's time on a CPU; computing
    the border again as four thin convolutions a fifth (oneDNN is slow on strips a few pixels
    wide); gathered, about 7 %. Where gathering would cost more than padding (wide kernels,
    large dilations, small maps), the input is padded.

    Shapes: (B, C, H, W) -> (B, C', H_out, W_out), as ``conv``.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.padding_mode != "reflect" or conv.padding[0] != conv.padding[1]:
            raise ValueError("only convolutions with equal reflected borders")
        if conv.stride[0] != conv.stride[1] or conv.kernel_size[0] != conv.kernel_size[1]:
            raise ValueError("only square kernels with equal strides")
        self.conv = conv
        self.pad = conv.padding[0]
        self.stride = conv.stride[0]
        # The window's reach beyond its first input row or column.
        self.reach = conv.dilation[0] * (conv.kernel_size[0] - 1)
        self._windows: dict = {}  # (B, H, W, device) -> `_border_windows`
        self._matrix: dict = {}  # (dtype, device) -> weights as a (k·k·C, C') matrix

    def _plain(self, x: torch.Tensor, padding) -> torch.Tensor:
        conv = self.conv
        return F.conv2d(x, conv.weight, conv.bias, self.stride, padding, conv.dilation, conv.groups)

    def _border_windows(self, batch: int, height: int, width: int, device) -> tuple | None:
        """Where the border outputs' reflected windows are: the index of every tap of every
        border output in the input's (B·H·W) pixels, tap-major per output, and the border
        outputs' index in the output's pixels (B·N); None where gathering them would cost
        more than padding the input (more taps than half its pixels: wide kernels, large
        dilations, small maps)."""
        key = (batch, height, width, device)
        if key not in self._windows:
            p, s, d = self.pad, self.stride, self.conv.dilation[0]
            size = self.conv.kernel_size[0]
            rows = np.arange((height + 2 * p - self.reach - 1) // s + 1)
            columns = np.arange((width + 2 * p - self.reach - 1) // s + 1)

            def reaches_out(outputs: np.ndarray, length: int) -> np.ndarray:
                return (s * outputs - p < 0) | (s * outputs - p + self.reach >= length)

            border = reaches_out(rows, height)[:, None] | reaches_out(columns, width)[None, :]
            row, column = np.nonzero(border)
            if len(row) * size * size > height * width / 2:
                self._windows[key] = None
                return None
            taps = d * np.arange(size)

            def reflected(coordinate: np.ndarray, length: int) -> np.ndarray:
                coordinate = np.abs(coordinate)
                return np.where(coordinate >= length, 2 * (length - 1) - coordinate, coordinate)

            y = reflected(s * row[:, None] - p + taps[None, :], height)  # (N, k)
            x = reflected(s * column[:, None] - p + taps[None, :], width)
            taps_at = (y[:, :, None] * width + x[:, None, :]).reshape(-1)
            outputs_at = row * len(columns) + column
            images = np.arange(batch)[:, None]
            self._windows[key] = (
                torch.as_tensor((images * height * width + taps_at).reshape(-1), device=device),
                torch.as_tensor((images * rows.size * columns.size + outputs_at).reshape(-1),
                                device=device),
            )  # fmt: skip
        return self._windows[key]

    def _weight_matrix(self, dtype, device) -> torch.Tensor:
        key = (dtype, device)
        if key not in self._matrix:
            weight = self.conv.weight.detach()
            out_channels, per_group, size, _ = weight.shape
            groups = self.conv.groups
            dense = weight.new_zeros(out_channels, per_group * groups, size, size)
            step = out_channels // groups
            for g in range(groups):  # block-diagonal: each output sees its group's inputs
                outputs = slice(g * step, (g + 1) * step)
                dense[outputs, g * per_group : (g + 1) * per_group] = weight[outputs]
            matrix = dense.permute(2, 3, 1, 0).reshape(-1, out_channels)  # (k·k·C, C')
            self._matrix[key] = matrix.to(dtype=dtype, device=device).contiguous()
        return self._matrix[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pad
        batch, channels, height, width = x.shape
        if p == 0:
            return self._plain(x, 0)
        pixels = x.permute(0, 2, 3, 1)  # (B, H, W, C): rows of channels when channels-last
        windows = None
        if min(height, width) > p and pixels.is_contiguous():
            windows = self._border_windows(batch, height, width, x.device)
        if windows is None:
            return self._plain(F.pad(x, (p, p, p, p), mode="reflect"), 0)
        out = self._plain(x, p)
        taps_at, outputs_at = windows
        gathered = pixels.reshape(-1, channels).index_select(0, taps_at)
        border = gathered.reshape(len(outputs_at), -1) @ self._weight_matrix(x.dtype, x.device)
        if self.conv.bias is not None:
            border = border + self.conv.bias.to(border.dtype)
        out = out.contiguous(memory_format=torch.channels_last)  # as it comes from oneDNN
        rows = out.permute(0, 2, 3, 1).view(-1, out.shape[1])  # the output's pixels, in place
        rows.index_copy_(0, outputs_at, border.to(out.dtype))
        return out


def reflect_borders_only(module: nn.Module) -> nn.Module:
    """``module`` with every reflect-padded convolution in it wrapped in `ReflectBorderConv2d`
    (in place; for inference)."""
    for name, child in module.named_children():
        if (
            isinstance(child, nn.Conv2d)
            and child.padding_mode == "reflect"
            and child.stride[0] == child.stride[1]
            and child.padding[0] == child.padding[1]
            and child.kernel_size[0] == child.kernel_size[1]
        ):
            setattr(module, name, ReflectBorderConv2d(child))
        else:
            reflect_borders_only(child)
    return module


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2, ceil_mode=True)``, the same values; outside autograd as the maxima
    of the four strided views, 5 times faster on CPU than PyTorch's pooling of channels-last
    bfloat16 (which also computes indices). Shapes: (B, C, H, W) -> (B, C, ceil(H/2),
    ceil(W/2))."""
    if x.requires_grad:  # training keeps PyTorch's pooling (its gradient picks one of a tie)
        return F.max_pool2d(x, 2, ceil_mode=True)
    height, width = x.shape[-2:]
    if height % 2 or width % 2:  # ceil_mode's last window: a repeated row or column
        x = F.pad(x, (0, width % 2, 0, height % 2), mode="replicate")
    top = torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2])
    return torch.maximum(top, torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]), out=top)


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by a LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
        )


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang, Girshick, Gupta, He, CVPR 2018), residual.

    Every position attends to every other: memory grows with (H·W)², so it sits in a
    bottleneck and large images are processed in tiles.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 2)
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.out.weight)  # starts as the identity
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # B, HW, C'
        phi = self.phi(x).flatten(2)  # B, C', HW
        g = self.g(x).flatten(2).transpose(1, 2)  # B, HW, C'
        attention = torch.softmax(theta @ phi, dim=-1)
        y = (attention @ g).transpose(1, 2).reshape(batch, -1, height, width)
        return x + self.out(y)


class SkipUNet(nn.Module):
    """Encoder-decoder with skip connections over ``levels`` downsamplings (sizes need not be
    multiples of 2**levels: decoder features are resized to the skip's size).

    Parameters
    ----------
    in_channels, out_channels : int
    width : int
        Channels at full resolution, doubled at each level.
    non_local : bool
        Put a `NonLocalBlock` in the bottleneck.
    levels : int
        Number of downsamplings; each widens the receptive field about twofold.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 16,
        non_local: bool = False,
        levels: int = 2,
    ) -> None:
        super().__init__()
        self.levels = levels
        previous = in_channels
        for level in range(1, levels + 1):
            setattr(self, f"encoder{level}", ConvBlock(previous, width * 2 ** (level - 1)))
            previous = width * 2 ** (level - 1)
        deepest = width * 2**levels
        self.bottleneck = ConvBlock(previous, deepest)
        self.attention = NonLocalBlock(deepest) if non_local else nn.Identity()
        for level in range(levels, 0, -1):
            channels = width * 2 ** (level - 1)
            setattr(self, f"reduce{level}", nn.Conv2d(2 * channels, channels, 1))
            setattr(self, f"decoder{level}", ConvBlock(2 * channels, channels))
        self.head = nn.Conv2d(width, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level in range(1, self.levels + 1):
            x = getattr(self, f"encoder{level}")(x)
            skips.append(x)
            x = max_pool_2x2(x)
        x = self.attention(self.bottleneck(x))
        for level in range(self.levels, 0, -1):
            skip = skips[level - 1]
            x = F.interpolate(
                getattr(self, f"reduce{level}")(x),
                size=skip.shape[-2:],
                mode="bilinear",
                align_corners=False,
            )
            x = getattr(self, f"decoder{level}")(torch.cat([x, skip], dim=1))
        return self.head(x)
