"""DFP's SKIPnet (§3.2.1): the encoder-decoder generator that DFP fits to one stack.

Tensors are (B, C, H, W). Every convolution is preceded by reflection padding so feature maps
keep their size; inputs whose sides are not multiples of 2**depth are reflection-padded and the
output is cropped back.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SkipNet"]

_SLOPE = 0.2  # LeakyReLU's negative slope


def _convolution(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Module:
    """Reflection padding and an ``kernel`` x ``kernel`` convolution, or two 3x3 ones for kernel 5
    (§3.2.1: "two 3×3 convolution layers can be used to replace the 5×5")."""
    if kernel == 5:
        return nn.Sequential(
            _convolution(in_channels, out_channels, 3),
            _convolution(out_channels, out_channels, 3, stride),
        )
    layers: list[nn.Module] = []
    if kernel > 1:
        layers.append(nn.ReflectionPad2d(kernel // 2))
    layers.append(nn.Conv2d(in_channels, out_channels, kernel, stride=stride, bias=False))
    return nn.Sequential(*layers)


def _normalised(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> list:
    return [
        _convolution(in_channels, out_channels, kernel, stride),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(_SLOPE, inplace=True),
    ]


class SkipNet(nn.Module):
    """SKIPnet: D encoder blocks, D decoder blocks, skip connections, 1x1 head and a sigmoid.

    Encoder block d: convolution (stride 1), BN, LeakyReLU, convolution (stride 2), BN,
    LeakyReLU. Decoder block d: bilinear ×2 upsampling of the deeper features, concatenation
    with block d's skip features, BN, two convolutions each with BN and LeakyReLU. The skip
    features are a 1x1 convolution, BN and LeakyReLU of the encoder block's input.

    Parameters
    ----------
    in_channels, out_channels : int
    widths : tuple of int
        Channels of each scale, finest first; D = len(widths).
    skip_channels : int
        Channels of each skip connection (0: none).
    kernel : {1, 3, 5}
        n_d; 5 is built as two 3x3 convolutions.
    sigmoid : bool
        End with the paper's sigmoid; False returns the head's logits.
    unshuffle : int
        r: the network works at 1/r of the image's size on r² times the channels (pixel
        unshuffle in, pixel shuffle out), so its finest scale costs r² times less; 1 is the
        paper's SKIPnet.

    Input (B, in_channels, H, W) float32, any H and W. Output (B, out_channels, H, W), in (0, 1)
    with the sigmoid.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        widths: tuple[int, ...] = (16, 32, 64, 64, 128),
        skip_channels: int = 4,
        kernel: int = 3,
        sigmoid: bool = True,
        unshuffle: int = 1,
    ) -> None:
        super().__init__()
        if kernel not in (1, 3, 5):
            raise ValueError(f"kernel must be 1, 3 or 5, not {kernel}")
        if unshuffle < 1:
            raise ValueError(f"unshuffle must be at least 1, not {unshuffle}")
        self.depth = len(widths)
        self.unshuffle = unshuffle
        in_channels, out_channels = in_channels * unshuffle**2, out_channels * unshuffle**2
        self.encoders = nn.ModuleList()
        self.skips = nn.ModuleList()
        self.decoders = nn.ModuleList()
        channels = in_channels
        for width in widths:
            self.encoders.append(
                nn.Sequential(
                    *_normalised(channels, width, kernel), *_normalised(width, width, kernel, 2)
                )
            )
            self.skips.append(
                nn.Sequential(*_normalised(channels, skip_channels, 1)) if skip_channels else None
            )
            channels = width
        deeper = widths[-1]
        for width in reversed(widths):
            merged = deeper + skip_channels
            self.decoders.insert(
                0,
                nn.Sequential(
                    nn.BatchNorm2d(merged),
                    *_normalised(merged, width, kernel),
                    *_normalised(width, width, 1),
                ),
            )
            deeper = width
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.sigmoid = sigmoid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) -> (B, out_channels, H, W), in (0, 1) with the sigmoid."""
        height, width = x.shape[-2:]
        multiple = self.unshuffle * 2**self.depth
        pad_bottom, pad_right = -height % multiple, -width % multiple
        if pad_bottom or pad_right:
            x = _reflect_pad(x, pad_bottom, pad_right)
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        skips = []
        for encoder, skip in zip(self.encoders, self.skips, strict=True):
            skips.append(skip(x) if skip is not None else None)
            x = encoder(x)
        for decoder, skip in zip(reversed(self.decoders), reversed(skips), strict=True):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            if skip is not None:
                x = torch.cat([x, skip], dim=1)
            x = decoder(x)
        x = self.head(x)
        if self.unshuffle > 1:
            x = F.pixel_shuffle(x, self.unshuffle)
        x = x[..., :height, :width]
        return torch.sigmoid(x) if self.sigmoid else x


def _reflect_pad(x: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
    """Reflection padding at the bottom and right, repeated when a pad exceeds the side."""
    while bottom or right:
        step_bottom = min(bottom, x.shape[-2] - 1)
        step_right = min(right, x.shape[-1] - 1)
        x = F.pad(x, (0, step_right, 0, step_bottom), mode="reflect")
        bottom, right = bottom - step_bottom, right - step_right
    return x
