"""A learned start for enlarging by 2: the detail an interpolation misses, predicted from the
small image (mfif's own, not one of the four papers; README, "DFP", "A learned start").

Back-projection (`mfif.resample.back_projected_upsample`) makes an enlargement agree with the
small image under a degradation model, and keeps whatever its start puts where that model
cannot see: above the small image's Nyquist frequency. Lanczos-4 puts ringing and jagged
edges there; this network puts what photographs hold there. It is a plain stack of 3 x 3
convolutions at the small image's resolution (after Shi et al.'s sub-pixel convolution, CVPR
2016) whose last layer gives the 4 phases of each small pixel; they are added to the
interpolation of the same luminance.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Enlarger"]


class Enlarger(nn.Module):
    """Luminance ×2: a correction added to an interpolation of the same image.

    Parameters
    ----------
    width : int
        Channels of the hidden layers.
    depth : int
        Hidden 3 x 3 layers between the first and the last (each widens the receptive field by
        one small pixel on each side: ``depth + 2`` in all).
    """

    def __init__(self, width: int = 32, depth: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 4, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.reach = depth + 2  # receptive radius in small pixels

    @classmethod
    def from_state_dict(cls, state: dict) -> Enlarger:
        """A model shaped to fit ``state`` (width and depth from its layers), loaded."""
        convolutions = sorted(int(key.split(".")[1]) for key in state if key.endswith(".weight"))
        model = cls(width=int(state["body.0.weight"].shape[0]), depth=len(convolutions) - 2)
        model.load_state_dict(state, strict=True)
        return model

    def forward(self, small: torch.Tensor, interpolated: torch.Tensor) -> torch.Tensor:
        """The enlargement (B, 1, 2h, 2w) of ``small`` (B, 1, h, w) in [0, 1], given its
        interpolation ``interpolated`` (B, 1, 2h, 2w); unclipped."""
        return interpolated + F.pixel_shuffle(self.body(small - 0.5), 2)
