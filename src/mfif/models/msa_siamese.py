"""MSA-Siamese: Zhai, Luo, Yang, Xu, Lin, "Multi-focus image fusion via multi-scale attention
and Siamese networks" (../shared/papers/msa-siamese-multiscale-attention.txt).
The architecture only; the loss and the recipes are in `mfif.training.msa_siamese`, the
post-processing and the fuser in `mfif.methods.msa_siamese`.

Two sources A and C in, one decision map out: the probability that A is the in-focus source
at each pixel (section 3.5.1). Every source goes through the same pipeline (the Siamese
part, weights shared), the two feature maps meet in the decoder:

    source -> GCB -> CBR -> stride-2 CBR -> local attention -> residual blocks -> DFEB
    [features A; features C] -> 1x1 -> DCA x2 -> upsample x2 -> [.; full-resolution CBR
    features of A and C] -> 3x3 conv, ReLU -> 3x3 conv -> sigmoid

Choices where the paper is vague (Fig. 1 gives no channel counts, numbers of units or
resolutions):

- **GCB** (section 3.3) sits first, on each source, inside the shared branch: the text calls
  it the first step on "a pair of complementary raw images". It is DnCNN's layout (17 3x3
  convolutions, ReLU after each but the last) used residually (clean = source - predicted
  noise, DnCNN's residual learning) with its last layer starting at zero, so an untrained GCB
  is the identity. It is trained end to end with the rest: the paper trains it on "the
  multi-focus image sequence" with no separate target, and a separately trained denoiser would
  need noisy/clean pairs this data does not have. Its width (8) is an eighth of DnCNN's 64:
  it runs at full resolution on every source, and at 16 channels it already cost as much
  training time as the whole rest of the network on 2 CPU cores.
- **Resolution**: the encoder works at half resolution after one stride-2 CBR ("continuous
  convolution and pooling"), which quarters the cost of every later layer on 2 CPU cores; the
  full-resolution CBR features of both sources come back through a skip before the last
  convolutions, so the decision map keeps pixel-accurate edges.
- **Local attention module (LAM)**: named in the introduction only. Here a pixel attention,
  x * sigmoid(conv3x3(x)): a gate per pixel and channel computed from a 3x3 neighbourhood.
- **Residual blocks**: two, each conv-BN-ReLU-conv-BN plus the input, then ReLU.
- **DFEB** (section 3.4, after DEA-Net's DEAB): conv-ReLU-conv plus the input (the feature
  extraction block with its residual), then content-guided attention (CGA, eqs. (5)-(7)) on
  the result, the product through a 1x1 convolution and the block's input added again.
  CGA's channel branch narrows to 16 channels (the paper's constant), its group convolution
  has one group per channel.
- **DCA** (section 3.2): three parallel dilated 3x3 convolutions (d = 1, 2, 4) concatenated
  and mixed by a 1x1 convolution with ReLU, CBAM channel attention with a shared MLP
  (eqs. (1)-(2), reduction 4), spatial attention from a 7x7 convolution over [mean; max]
  (eqs. (3)-(4)), then the input and the attended features concatenated and reduced by a
  1x1 convolution (the paper's residual "concatenated with the reduced-dimensional
  features"). Two DCA blocks at half resolution reach a receptive field of about 60 pixels
  of the full image.

Ablation switches (Table 7 and Fig. 15): ``dca``, ``siamese`` (False: the two sources get
their own encoders), ``dfeb`` and ``gcb``. Parameter count at the defaults: see
``MSASiamese(...).parameter_count``; the paper gives none.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import reflect_borders_only

__all__ = [
    "MSASiamese",
    "GenCleanBlock",
    "ContentGuidedAttention",
    "DeepFeatureExtractionBlock",
    "DilatedConvolutionAttention",
]


def _conv(in_channels: int, out_channels: int, kernel: int = 3, **options) -> nn.Conv2d:
    # Reflected borders: decisions near the image border see mirrored content, not a dark frame.
    dilation = options.pop("dilation", 1)
    padding = dilation * (kernel // 2)
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel,
        padding=padding,
        dilation=dilation,
        padding_mode="reflect",
        **options,
    )


def _cbr(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """Convolution-BatchNorm-ReLU (CBR) unit."""
    return nn.Sequential(
        _conv(in_channels, out_channels, 3, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class GenCleanBlock(nn.Module):
    """GCB (section 3.3): DnCNN's 17 3x3 convolutions, used residually.

    Shapes: (B, 3, H, W) -> (B, 3, H, W), the cleaned source.
    """

    def __init__(self, channels: int = 3, width: int = 16, depth: int = 17) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv(channels, width), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [_conv(width, width), nn.ReLU(inplace=True)]
        last = _conv(width, channels)
        nn.init.zeros_(last.weight)  # starts as the identity: clean = source - 0
        nn.init.zeros_(last.bias)
        layers.append(last)
        self.noise = nn.Sequential(*layers)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return source - self.noise(source)


class LocalAttention(nn.Module):
    """Pixel attention: each feature gated by a sigmoid of a 3x3 convolution of its
    neighbourhood."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gate = _conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.gate(x))


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input, then ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            _conv(channels, channels, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def _spatial_pool(x: torch.Tensor) -> torch.Tensor:
    """[mean; max] over channels, (B, 2, H, W)."""
    # The max in float32 (exact): PyTorch's bfloat16 max over channels is 8 times slower on a CPU.
    return torch.cat([x.mean(dim=1, keepdim=True), x.float().amax(dim=1, keepdim=True)], dim=1)


class ContentGuidedAttention(nn.Module):
    """CGA, eqs. (5)-(7): a spatial importance map for every channel, (B, C, H, W) in (0, 1).

    Parameters
    ----------
    channels : int
    hidden : int
        Channels of the channel branch's bottleneck (the paper: 16).
    """

    def __init__(self, channels: int, hidden: int = 16) -> None:
        super().__init__()
        hidden = min(hidden, channels)
        self.channel = nn.Sequential(  # W_c, eq. (5)
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )
        self.spatial = _conv(2, 1, 7)  # W_s, eq. (5)
        self.refine = _conv(2 * channels, channels, 7, groups=channels)  # GC_7x7, eq. (7)
        self.folded: nn.ModuleList | None = None

    @torch.no_grad()
    def fold(self) -> None:
        """For inference: the coarse map is a per-channel constant plus one spatial map, so the
        grouped 7x7 convolution over the shuffled pairs splits into a depthwise 7x7 of ``x``, a
        1 -> C 7x7 of the spatial map and a constant per channel (reflected borders keep a
        constant constant): no shuffled copy, no grouped convolution; the same output up to
        rounding."""
        channels = self.refine.out_channels
        own = _conv(channels, channels, 7, groups=channels)
        own.weight.copy_(self.refine.weight[:, :1])
        own.bias.copy_(self.refine.bias)
        spread = _conv(1, channels, 7, bias=False)
        spread.weight.copy_(self.refine.weight[:, 1:].reshape(channels, 1, 7, 7))
        self.folded = nn.ModuleList([own, spread])
        self.register_buffer("coarse_gain", self.refine.weight[:, 1].sum(dim=(1, 2)).view(-1, 1, 1))
        del self.refine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded is not None:
            own, spread = self.folded
            constant = self.channel(x.mean(dim=(2, 3), keepdim=True)) * self.coarse_gain
            return torch.sigmoid(own(x) + spread(self.spatial(_spatial_pool(x))) + constant)
        batch, channels, height, width = x.shape
        coarse = self.channel(x.mean(dim=(2, 3), keepdim=True)) + self.spatial(_spatial_pool(x))
        # CS([X, W_coa]): channel shuffle with two groups interleaves x_c with its coarse map.
        pairs = torch.stack([x, coarse.expand_as(x)], dim=2)
        shuffled = pairs.reshape(batch, 2 * channels, height, width)
        return torch.sigmoid(self.refine(shuffled))  # eq. (7)


class DeepFeatureExtractionBlock(nn.Module):
    """DFEB (section 3.4): a residual feature-extraction block, then CGA-weighted features
    through a 1x1 convolution, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.extract = nn.Sequential(
            _conv(channels, channels), nn.ReLU(inplace=True), _conv(channels, channels)
        )
        self.attention = ContentGuidedAttention(channels)
        self.project = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = x + self.extract(x)
        return x + self.project(features * self.attention(features))


class DilatedConvolutionAttention(nn.Module):
    """DCA (section 3.2, Fig. 2): dilated convolutions (d = 1, 2, 4), CBAM channel attention
    (eqs. (1)-(2)) and spatial attention (eqs. (3)-(4)), the input concatenated back."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.dilated = nn.ModuleList(_conv(channels, channels, dilation=d) for d in (1, 2, 4))
        self.mix = nn.Sequential(nn.Conv2d(3 * channels, channels, 1), nn.ReLU(inplace=True))
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(  # the shared MLP of eq. (1)
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )
        self.spatial = _conv(2, 1, 7)  # f^{7x7} of eq. (3)
        self.merge = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.ReLU(inplace=True))
        self.folded: nn.ModuleList | None = None

    @torch.no_grad()
    def fold(self) -> None:
        """For inference: the 1x1 mix is linear and follows the dilated convolutions without a
        non-linearity between, so each dilated convolution absorbs its slice of it
        (mix(cat(d1, d2, d4)) = Σ_i mix_i ∘ d_i); the output is unchanged up to rounding."""
        mix = self.mix[0]
        channels = mix.out_channels
        folded = []
        for i, conv in enumerate(self.dilated):
            part = mix.weight[:, i * channels : (i + 1) * channels, 0, 0]  # (out, mid)
            merged = _conv(conv.in_channels, channels, dilation=conv.dilation[0])
            merged.weight.copy_(torch.einsum("om,mikl->oikl", part, conv.weight))
            bias = part @ conv.bias
            merged.bias.copy_(bias + mix.bias if i == 0 else bias)
            folded.append(merged)
        self.folded = nn.ModuleList(folded)
        del self.dilated, self.mix

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded is not None:  # the same map, without the concatenation
            features = F.relu(sum(conv(x) for conv in self.folded))
        else:
            features = self.mix(torch.cat([conv(x) for conv in self.dilated], dim=1))
        average = self.mlp(features.mean(dim=(2, 3), keepdim=True))
        maximum = self.mlp(F.adaptive_max_pool2d(features, 1))  # 10x faster than amax in bfloat16
        features = torch.sigmoid(average + maximum) * features  # eqs. (1), (2)
        features = torch.sigmoid(self.spatial(_spatial_pool(features))) * features  # (3), (4)
        return self.merge(torch.cat([x, features], dim=1))


class _Encoder(nn.Module):
    """One source's branch: (B, 3, H, W) -> full-resolution (B, W/2, H, W) and half-resolution
    (B, W, ceil(H/2), ceil(W/2)) features."""

    def __init__(self, width: int, *, gcb: int, dfeb: bool) -> None:
        super().__init__()
        self.clean = GenCleanBlock(width=gcb) if gcb else nn.Identity()
        self.full = _cbr(3, width // 2)
        self.down = _cbr(width // 2, width, stride=2)
        self.local = LocalAttention(width)
        self.residual = nn.Sequential(ResidualBlock(width), ResidualBlock(width))
        self.deep = DeepFeatureExtractionBlock(width) if dfeb else nn.Identity()

    def forward(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        full = self.full(self.clean(source))
        half = self.deep(self.residual(self.local(self.down(full))))
        return full, half


class MSASiamese(nn.Module):
    """The MSA-Siamese decision-map network.

    Parameters
    ----------
    width : int
        Channels of the half-resolution features (the full-resolution ones have half).
    dca, siamese, dfeb : bool
        Components of Table 7's ablation; False removes one (``siamese=False``: each of the
        two inputs has its own encoder).
    gcb : int
        Channels of the GCB's hidden layers; 0 removes the GCB (the fourth ablation).

    Shapes: ``forward(a, c)`` takes two (B, 3, H, W) tensors in [0, 1] (grey sources as
    three equal channels) and returns the decision map (B, 1, H, W) in (0, 1): the
    probability that ``a`` is the in-focus source.
    """

    def __init__(
        self,
        width: int = 32,
        *,
        dca: bool = True,
        siamese: bool = True,
        dfeb: bool = True,
        gcb: int = 8,
    ) -> None:
        super().__init__()
        if width < 4 or width % 2:
            raise ValueError(f"width must be an even number of channels >= 4; got {width}.")
        self.config = {"width": width, "dca": dca, "siamese": siamese, "dfeb": dfeb, "gcb": gcb}
        encoders = [_Encoder(width, gcb=gcb, dfeb=dfeb) for _ in range(1 if siamese else 2)]
        self.encoders = nn.ModuleList(encoders)
        self.join = nn.Sequential(nn.Conv2d(2 * width, width, 1), nn.ReLU(inplace=True))
        blocks = [DilatedConvolutionAttention(width) for _ in range(2)] if dca else []
        self.reconstruct = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            _conv(2 * width, width // 2), nn.ReLU(inplace=True), _conv(width // 2, 1)
        )

    def encode(self, source: torch.Tensor, branch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of one source: ``branch`` 0 for the first input, 1 for the second (the
        same encoder unless ``siamese=False``)."""
        return self.encoders[branch % len(self.encoders)](source)

    def decide(
        self, first: tuple[torch.Tensor, torch.Tensor], second: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        """Decision logits (B, 1, H, W) from two sources' `encode` features (first: the
        source the map gives the probability of)."""
        (full_a, half_a), (full_c, half_c) = first, second
        joined = self.reconstruct(self.join(torch.cat([half_a, half_c], dim=1)))
        upsampled = F.interpolate(
            joined, size=full_a.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.head(torch.cat([upsampled, full_a, full_c], dim=1))

    def forward(self, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The probability (B, 1, H, W) that source ``a`` is sharper than source ``c`` at each
        pixel; both (B, 3, H, W) in [0, 1]."""
        return torch.sigmoid(self.decide(self.encode(a, 0), self.encode(c, 1)))

    def for_inference(self) -> MSASiamese:
        """This model, in place, in a form that computes the same maps faster (inference only;
        it can no longer be trained or saved): each BatchNorm folded into the convolution
        before it, each DCA's 1x1 mix into its dilated convolutions, each CGA's grouped
        convolution split (`ContentGuidedAttention.fold`), reflected borders without padded
        copies (`mfif.models.blocks.ReflectBorderConv2d`). Call after `eval`."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        def fold_batch_norms(module: nn.Module) -> None:
            for child in module.children():
                if isinstance(child, nn.Sequential):
                    layers = list(child)
                    for i in range(len(layers) - 1):
                        if isinstance(layers[i], nn.Conv2d) and isinstance(
                            layers[i + 1], nn.BatchNorm2d
                        ):
                            child[i] = fuse_conv_bn_eval(layers[i], layers[i + 1])
                            child[i + 1] = nn.Identity()
                fold_batch_norms(child)

        fold_batch_norms(self)
        for module in list(self.modules()):
            if isinstance(module, (DilatedConvolutionAttention, ContentGuidedAttention)):
                module.fold()
        return reflect_borders_only(self)

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def state(self) -> dict:
        """Weights plus the configuration needed to rebuild the model (`from_state`)."""
        return {"config": dict(self.config), "model": self.state_dict()}

    @classmethod
    def from_state(cls, state: dict) -> MSASiamese:
        """Rebuild from `state` (or an exported weights file's contents)."""
        model = cls(**state["config"])
        model.load_state_dict(state["model"])
        return model
