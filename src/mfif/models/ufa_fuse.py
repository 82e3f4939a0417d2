"""UFA-Fuse: Zang, Zhou, Wang, Nie, Guo, "UFA-FUSE: A novel deep supervised and hybrid model
for multi-focus image fusion" (../shared/papers/ufa-fuse-unity-fusion-attention.txt).
The architecture only; the loss and the training recipe are in `mfif.training.ufa_fuse`, the
fuser in `mfif.methods.ufa_fuse`.

Per Table II: seven feature-extraction blocks (3x3 conv + LeakyReLU) shared by every source,
the unity fusion attention (UFA) module, a 1x1 feature-fusion block (FFB) and four
reconstruction blocks (the last one 3 channels with a sigmoid). RGB in, RGB out.

The paper fixes K = 2 sources and concatenates the two attended features before the FFB
(128 -> 64 channels). mfif fuses any K >= 2. By default (``reduction="mean"``) the attended
features are averaged over the sources with the attention product as weights:

    F = sum_k M^s_k M^c_k F_k / sum_k M^s_k M^c_k

Each attention is a softmax across the sources (eqs. (8), (10)), but their product is not: it
sums to less than one, the less the more sources there are and the less decisive the two
attentions are. The paper's FFB, seeing each source's features in its own channels, can learn
that scale for K = 2; a plain sum cannot, for it does not know K. Dividing by the product's sum
makes the reduction a convex combination: independent of the order and of the number of the
sources, and K copies of one image give that image's features. ``reduction="sum"`` (the plain
sum of eq. (6)'s F''_k; the first shipped weights) and ``reduction="concat"`` (the paper's FFB,
exactly ``sources`` inputs in a fixed order) remain.

``residual=True`` (mfif's, not the paper's) adds the sources, weighted per pixel by the spatial
attention M^s_k, to the reconstruction's output, which then has no sigmoid and reconstructs
only a correction:

    fused = sum_k M^s_k I_k + R(F)

The paper's network must redraw every pixel through twelve convolutions; trained here it copied
an in-focus region only to about 49.6 dB (an image fused with itself: 48.9 dB), 5-7 dB short of
a decision map, and that alone kept it below guided-decision on the held-out mask sets. With
the addition a copy stays exact wherever the attention is decisive, and the reconstruction is
free to spend its capacity where no source is right (the soft band of a depth edge). The
attention still decides in feature space as the paper's does; there is no binarisation and no
post-processing. Without spatial attention the sources are averaged.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import reflect_borders_only

__all__ = ["UFAFuse", "UnityFusionAttention", "REDUCTIONS", "LEAKY_SLOPE"]

REDUCTIONS = ("mean", "sum", "concat")
LEAKY_SLOPE = 0.2  # LeakyReLU's negative slope; Table II names the activation only


def _conv(in_channels: int, out_channels: int, kernel: int) -> nn.Conv2d:
    # Reflected borders: a fused image has no dark frame, and tiles meet without seams.
    return nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, padding_mode="reflect")


def _sum_sources(tensor: torch.Tensor) -> torch.Tensor:
    """The sum over dimension 1 (the K sources) of a (B, K, ...) tensor, as K - 1 additions:
    `torch.sum` over that dimension of channels-last features is 25 times slower on CPU (the
    same values)."""
    total = tensor[:, 0].clone()
    for k in range(1, tensor.shape[1]):
        total += tensor[:, k]
    return total


class UnityFusionAttention(nn.Module):
    """The UFA module (section III-B, Fig. 2): channel attention then spatial attention, each a
    softmax across the K sources.

    Parameters
    ----------
    channel : bool
        Channel attention, eqs. (7)-(8) (False: the "NO-CA" ablation of Table IV).
    spatial : bool
        Spatial attention, eqs. (9)-(10) (False: the "NO-SA" ablation).
    """

    def __init__(self, channel: bool = True, spatial: bool = True) -> None:
        super().__init__()
        self.channel = channel
        self.spatial = spatial
        # f^{7x7} of eq. (9): [average; maximum] over channels -> one logit map (Table II)
        self.spatial_conv = _conv(2, 1, 7) if spatial else None

    def forward(
        self, features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Attend to each source's features.

        Parameters
        ----------
        features : Tensor of shape (B, K, C, H, W)

        Returns
        -------
        attended : Tensor of shape (B, K, C, H, W)
            F''_k of eq. (6) (or F'_k / F_k with an attention switched off).
        channel_maps : Tensor of shape (B, K, C, 1, 1) or None
            M^c_k, summing to 1 over K.
        spatial_maps : Tensor of shape (B, K, 1, H, W) or None
            M^s_k, summing to 1 over K.
        """
        channel_maps = spatial_maps = None
        if self.channel:
            pooled = features.mean(dim=(3, 4), keepdim=True)  # eq. (7): A_k = AP(F_k)
            channel_maps = torch.softmax(pooled, dim=1)  # eq. (8)
            features = channel_maps * features  # eq. (5)
        if self.spatial:
            batch, count, _, height, width = features.shape
            # The maxima in float32 (exact): amax over bfloat16 channels is 5 times slower.
            maxima = features.float().amax(dim=2).to(features.dtype)
            descriptor = torch.cat(
                [features.mean(dim=2), maxima], dim=1
            )  # (B, 2K, H, W) as [avg_1..avg_K, max_1..max_K]
            descriptor = descriptor.view(batch, 2, count, height, width).transpose(1, 2)
            logits = self.spatial_conv(descriptor.reshape(batch * count, 2, height, width))
            spatial_maps = torch.softmax(logits.view(batch, count, 1, height, width), dim=1)
            features = spatial_maps * features  # eqs. (9), (10), (6)
        return features, channel_maps, spatial_maps


class UFAFuse(nn.Module):
    """The UFA-Fuse network.

    Parameters
    ----------
    width : int
        Channels of every hidden layer; 64 in the paper (Table II).
    channel_attention, spatial_attention : bool
        Switches of the UFA module's two halves; both False is the "NO-UFA" ablation (the
        features are then averaged over the sources).
    reduction : {"mean", "sum", "concat"}
        How the K attended features meet before the FFB (see the module's docstring).
    sources : int
        With ``reduction="concat"``, the fixed number of inputs (2 in the paper).
    residual : bool
        Reconstruct a correction to the attention-weighted sources instead of the whole image
        (see the module's docstring; False is the paper's network).

    Shapes: sources (B, K, 3, H, W) in [0, 1] -> fused image (B, 3, H, W) in [0, 1] (a
    residual model's may overshoot slightly: clip it).
    """

    def __init__(
        self,
        width: int = 64,
        *,
        channel_attention: bool = True,
        spatial_attention: bool = True,
        reduction: str = "mean",
        sources: int = 2,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}.")
        self.width = width
        self.reduction = reduction
        self.sources = sources
        self.residual = residual
        extraction: list[nn.Module] = []
        for block in range(7):  # FEB1..FEB7
            extraction += [_conv(3 if block == 0 else width, width, 3), nn.LeakyReLU(LEAKY_SLOPE)]
        self.extraction = nn.Sequential(*extraction)
        self.attention = UnityFusionAttention(channel_attention, spatial_attention)
        fused_channels = width * (sources if reduction == "concat" else 1)
        self.feature_fusion = nn.Conv2d(fused_channels, width, 1)  # FFB, no activation
        reconstruction: list[nn.Module] = []
        for _ in range(3):  # ICB1..ICB3
            reconstruction += [_conv(width, width, 3), nn.LeakyReLU(LEAKY_SLOPE)]
        reconstruction.append(_conv(width, 3, 3))  # ICB4
        if not residual:
            reconstruction.append(nn.Sigmoid())  # no parameters: both variants share keys
        self.reconstruction = nn.Sequential(*reconstruction)

    @property
    def uses_attention(self) -> bool:
        return self.attention.channel or self.attention.spatial

    def fuse_features(self, sources: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Features after the FFB, (B, width, H, W), and the attention maps (dict)."""
        batch, count, channels, height, width = sources.shape
        if channels != 3:
            raise ValueError(f"UFA-Fuse takes RGB sources (B, K, 3, H, W); got {channels}.")
        if self.reduction == "concat" and count != self.sources:
            raise ValueError(
                f"This model concatenates exactly {self.sources} sources; got {count}."
            )
        features = self.extraction(sources.reshape(batch * count, 3, height, width))
        features = features.view(batch, count, -1, height, width)
        attended, channel_maps, spatial_maps = self.attention(features)
        if self.reduction == "concat":
            merged = attended.reshape(batch, -1, height, width)
        elif self.reduction == "mean" and channel_maps is not None and spatial_maps is not None:
            total = _sum_sources(channel_maps * spatial_maps)  # (B, C, H, W), in (0, 1]
            merged = _sum_sources(attended) / total.clamp_min(1e-12)
        elif self.uses_attention:
            # One attention alone already sums to 1 over the sources: sum is the mean.
            merged = _sum_sources(attended)
        else:
            merged = attended.mean(dim=1)  # NO-UFA: plain average
        maps = {"channel": channel_maps, "spatial": spatial_maps}
        return self.feature_fusion(merged), maps

    def forward(self, sources: torch.Tensor) -> torch.Tensor:
        """The fused image (B, 3, H, W) from sources (B, K, 3, H, W) in [0, 1]: in (0, 1)
        without the residual (a sigmoid), else the attended sources plus a correction (the
        caller clips)."""
        fused, maps = self.fuse_features(sources)
        if not self.residual:
            return self.reconstruction(fused)
        return self.attended_sources(sources, maps["spatial"]) + self.reconstruction(fused)

    @staticmethod
    def attended_sources(sources: torch.Tensor, spatial_maps: torch.Tensor | None) -> torch.Tensor:
        """sum_k M^s_k I_k, (B, 3, H, W); the plain mean without spatial attention.

        Shapes: sources (B, K, 3, H, W); spatial_maps (B, K, 1, H, W), summing to 1 over K.
        """
        if spatial_maps is None:
            return sources.mean(dim=1)
        return _sum_sources(spatial_maps * sources)

    def for_inference(self) -> UFAFuse:
        """This model, in place, computing the same images without a padded copy of each
        feature map (`mfif.models.blocks.ReflectBorderConv2d`); inference only."""
        return reflect_borders_only(self)

    @classmethod
    def from_state(cls, state: dict) -> UFAFuse:
        """A model built from a weights file's contents ``{"config": ..., "model": ...}``."""
        model = cls(**state["config"])
        model.load_state_dict(state["model"], strict=True)
        return model

    def state(self) -> dict:
        """What a weights file holds: the architecture's arguments and the weights."""
        return {"architecture": "ufa_fuse", "config": self.config(), "model": self.state_dict()}

    def config(self) -> dict:
        """The constructor's arguments, saved with the weights to rebuild the model."""
        return {
            "width": self.width,
            "channel_attention": self.attention.channel,
            "spatial_attention": self.attention.spatial,
            "reduction": self.reduction,
            "sources": self.sources,
            "residual": self.residual,
        }
