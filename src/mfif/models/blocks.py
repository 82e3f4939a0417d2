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
    reaches past the input's edge computed again from thin reflect-padded strips. The same
    output as ``conv`` (``padding_mode="reflect"``, any stride) up to rounding; a padded copy
    of every feature map cost a quarter of MSA-Siamese's time on a CPU.

    Shapes: (B, C, H, W) -> (B, C', H_out, W_out), as ``conv``.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.padding_mode != "reflect" or conv.padding[0] != conv.padding[1]:
            raise ValueError("only convolutions with equal reflected borders")
        if conv.stride[0] != conv.stride[1]:
            raise ValueError("only convolutions with equal strides")
        self.conv = conv
        self.pad = conv.padding[0]
        self.stride = conv.stride[0]
        # The window's reach beyond its first input row or column.
        self.reach = conv.dilation[0] * (conv.kernel_size[0] - 1)

    def _plain(self, x: torch.Tensor, padding) -> torch.Tensor:
        conv = self.conv
        return F.conv2d(x, conv.weight, conv.bias, self.stride, padding, conv.dilation, conv.groups)

    def _edges(self, length: int) -> tuple[int, int]:
        """How many outputs along a side of ``length`` inputs reach past its start, and the
        first output that reaches past its end."""
        p, s = self.pad, self.stride
        outputs = (length + 2 * p - self.reach - 1) // s + 1
        first_past_end = -(-(length + p - self.reach) // s)  # ceil
        return -(-p // s), min(outputs, first_past_end)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, s = self.pad, self.stride
        height, width = x.shape[-2:]
        if p == 0:
            return self._plain(x, 0)
        if min(height, width) <= 3 * p + self.reach:  # strips would overlap: pad it all
            return self._plain(F.pad(x, (p, p, p, p), mode="reflect"), 0)
        out = self._plain(x, p)
        top, bottom = self._edges(height)
        left, right = self._edges(width)
        span = self.reach + 1 - p  # input rows past the padding that the edge outputs read
        strips = (
            (x[..., : s * (top - 1) + span, :], (p, p, p, 0), np.s_[..., :top, :]),
            (x[..., s * bottom - p :, :], (p, p, 0, p), np.s_[..., bottom:, :]),
            (x[..., :, : s * (left - 1) + span], (p, 0, p, p), np.s_[..., :, :left]),
            (x[..., :, s * right - p :], (0, p, p, p), np.s_[..., :, right:]),
        )
        for strip, padding, where in strips:
            if out[where].numel():
                out[where] = self._plain(F.pad(strip, padding, mode="reflect"), 0)
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
