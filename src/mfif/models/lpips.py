"""LPIPS v0.1 (Zhang, Isola, Efros, Shechtman, Wang, "The unreasonable effectiveness of deep
features as a perceptual metric", CVPR 2018, arXiv:1801.03924): the architecture only.

A frozen AlexNet or VGG16 trunk gives five feature maps per image; each is unit-normalised over
channels, the squared difference is weighted per channel by a learnt 1x1 convolution, averaged
over space, and the five averages are summed. Weights are loaded by `mfif.metrics.lpips`.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LPIPS", "AlexNetFeatures", "VGG16Features"]

# LPIPS' fixed input scaling layer: inputs in [-1, 1] are shifted and scaled per channel.
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class AlexNetFeatures(nn.Module):
    """AlexNet convolutional trunk; returns the five ReLU outputs."""

    channels = (64, 192, 384, 256, 256)

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(3, 64, 11, stride=4, padding=2),
                nn.Conv2d(64, 192, 5, padding=2),
                nn.Conv2d(192, 384, 3, padding=1),
                nn.Conv2d(384, 256, 3, padding=1),
                nn.Conv2d(256, 256, 3, padding=1),
            ]
        )
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for index, conv in enumerate(self.convs):
            if index in (1, 2):
                x = self.pool(x)
            x = torch.relu(conv(x))
            taps.append(x)
        return taps


class VGG16Features(nn.Module):
    """VGG16 convolutional trunk; returns relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""

    channels = (64, 128, 256, 512, 512)
    _plan = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

    def __init__(self) -> None:
        super().__init__()
        convs = []
        previous = 3
        for block in self._plan:
            for width in block:
                convs.append(nn.Conv2d(previous, width, 3, padding=1))
                previous = width
        self.convs = nn.ModuleList(convs)
        self.pool = nn.MaxPool2d(2, stride=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        index = 0
        for block_number, block in enumerate(self._plan):
            if block_number > 0:
                x = self.pool(x)
            for _ in block:
                x = torch.relu(self.convs[index](x))
                index += 1
            taps.append(x)
        return taps


class LPIPS(nn.Module):
    """LPIPS distance between two batches of RGB images.

    Parameters
    ----------
    network : {"alex", "vgg"}
        The feature trunk.

    Shape
    -----
    Inputs (B, 3, H, W) in [-1, 1]; output (B,), >= 0, 0 for identical images.
    """

    def __init__(self, network: str = "alex") -> None:
        super().__init__()
        if network == "alex":
            self.features: nn.Module = AlexNetFeatures()
        elif network == "vgg":
            self.features = VGG16Features()
        else:
            raise ValueError(f"network must be 'alex' or 'vgg'; got {network!r}.")
        self.linear = nn.ModuleList(
            nn.Conv2d(channels, 1, 1, bias=False) for channels in self.features.channels
        )
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        first_taps = self.features((first - self.shift) / self.scale)
        second_taps = self.features((second - self.shift) / self.scale)
        total = torch.zeros(first.shape[0], device=first.device, dtype=first.dtype)
        for a, b, linear in zip(first_taps, second_taps, self.linear, strict=True):
            difference = (_unit_normalise(a) - _unit_normalise(b)) ** 2
            total = total + linear(difference).mean(dim=(1, 2, 3))
        return total


def _unit_normalise(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    norm = torch.sqrt(torch.sum(features**2, dim=1, keepdim=True))
    return features / (norm + eps)
