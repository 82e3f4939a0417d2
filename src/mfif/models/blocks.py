"""Building blocks shared by mfif's networks. Tensors are (B, C, H, W)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ConvBlock", "NonLocalBlock", "SkipUNet"]


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
    """Encoder-decoder with skip connections over two downsamplings (sizes need not be
    multiples of 4: decoder features are resized to the skip's size).

    Parameters
    ----------
    in_channels, out_channels : int
    width : int
        Channels at full resolution; 2x and 4x in the deeper levels.
    non_local : bool
        Put a `NonLocalBlock` in the bottleneck.
    """

    def __init__(
        self, in_channels: int, out_channels: int, width: int = 16, non_local: bool = False
    ) -> None:
        super().__init__()
        self.encoder1 = ConvBlock(in_channels, width)
        self.encoder2 = ConvBlock(width, 2 * width)
        self.bottleneck = ConvBlock(2 * width, 4 * width)
        self.attention = NonLocalBlock(4 * width) if non_local else nn.Identity()
        self.reduce2 = nn.Conv2d(4 * width, 2 * width, 1)
        self.decoder2 = ConvBlock(4 * width, 2 * width)
        self.reduce1 = nn.Conv2d(2 * width, width, 1)
        self.decoder1 = ConvBlock(2 * width, width)
        self.head = nn.Conv2d(width, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip1 = self.encoder1(x)
        skip2 = self.encoder2(F.max_pool2d(skip1, 2, ceil_mode=True))
        deep = self.attention(self.bottleneck(F.max_pool2d(skip2, 2, ceil_mode=True)))
        up2 = F.interpolate(
            self.reduce2(deep), size=skip2.shape[-2:], mode="bilinear", align_corners=False
        )
        up2 = self.decoder2(torch.cat([up2, skip2], dim=1))
        up1 = F.interpolate(
            self.reduce1(up2), size=skip1.shape[-2:], mode="bilinear", align_corners=False
        )
        up1 = self.decoder1(torch.cat([up1, skip1], dim=1))
        return self.head(up1)
