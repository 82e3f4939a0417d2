"""UFA-Fuse as a fusion method: the network regresses the fused RGB image directly (no
decision map), tiled so memory stays bounded on large images."""

from __future__ import annotations

import os

import numpy as np

from ..fusion import Fusion, WholeStackFuser
from ..options import Option
from ..stack import Stack
from .network import PRECISION_OPTION, NetworkFuser
from .registry import register

__all__ = ["UFAFuseFuser", "UFAFusePaperFuser"]

GROUP = 3  # the most sources at once the shipped weights saw in training


@register
class UFAFuseFuser(NetworkFuser, WholeStackFuser):
    """UFA-Fuse (Zang et al.): supervised end-to-end fusion with unity fusion attention; the
    shipped weights (``ufa_fuse.cpu-narrow-realistic``, width 16) add the attention-weighted
    sources to the reconstruction (`mfif.models.ufa_fuse`), `UFAFusePaperFuser` is the paper's
    network.

    Grey stacks go in as three equal channels and come out grey (the mean of the three output
    channels).

    Parameters
    ----------
    weights : path-like or str, optional
        Weights written by ``mfif train ufa-fuse --export``, or a manifest name
        (``ufa_fuse.cpu-realistic``: the width-32 network, the default before 2026-12-07,
        about 1.6 times slower and 0.35 dB lower on average over nine ground-truth sets,
        README); default: the method's shipped weights.
    tile : int
        Largest tile side. The channel attention pools over a tile, so tiles near the
        training crops' size keep inference close to training.
    many : {"tree", "threes", "fold", "reduce"}
        With more than two sources: "tree" (default) fuses neighbouring pairs, then pairs of
        those results, until one is left, ((S1, S2), (S3, S4)), ...: each source goes
        through about log2(K) fusions. "fold" fuses pairs in stack order, ((S1, S2), S3),
        ... (K - 1 fusions deep); "threes" reduces groups of at most three, (S1, S2, S3),
        then (that, S4, S5), ... (the default before 2026-12-06); "reduce" feeds all of them
        at once (the attention-weighted mean takes any number). With the shipped weights the
        pairs decide more firmly than triples: "tree" over "threes" +0.2 to +3.3 dB on five
        3-4 source ground-truth sets, -2.5 dB on the sixth (halo-strong, where a pair of
        frames that both blur its background comes out mixed; its object +3.3 dB), -0.1 dB
        on 10-plane renders, and on the 10-frame Lytro stack of ../shared 0.4 % weak blocks
        against 26.5 % (README); about a quarter more time on 4 sources.
    device : {"cpu", "cuda"}, optional
        Default CUDA when available.
    precision : {"auto", "float32", "bfloat16"}, optional
        Default "auto": bfloat16 on a CPU with native bfloat16, about 1.7 times faster and
        0.03 dB lower on average over seven ground-truth sets (-0.07 to +0.01, README), else
        float32. ``ufa-fuse-paper`` defaults to float32.
    """

    name = "ufa-fuse"
    summary = (
        "UFA-Fuse (Zang et al.), mfif's: unity fusion attention, residual over attended sources"
    )
    pretrained = "ufa_fuse.cpu-narrow-realistic"
    default_precision = "auto"
    network = "UFA-Fuse"
    options = {
        "weights": Option("path", optional=True),
        "tile": Option("int", low=32, high=4096),
        "many": Option("str", choices=("tree", "threes", "fold", "reduce")),
        "device": Option("str", choices=("cpu", "cuda"), optional=True),
        "precision": PRECISION_OPTION,
    }

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        tile: int = 256,
        many: str = "tree",
        device: str | None = None,
        precision: str | None = None,
        *,
        model=None,
    ) -> None:
        super().__init__(weights, device, model=model, precision=precision)
        self.tile = tile
        self.many = many

    @classmethod
    def build_model(cls, state: dict):
        from ..models.ufa_fuse import UFAFuse

        return UFAFuse.from_state(state)

    def _fuse_rgb(self, images: np.ndarray) -> np.ndarray:
        """(K, H, W, 3) -> (H, W, 3), all K sources at once."""
        count, height, width, _ = images.shape
        planes = images.transpose(0, 3, 1, 2).reshape(count * 3, height, width)

        def forward(tensor):
            _, channels, h, w = tensor.shape
            return self.model(tensor.reshape(1, channels // 3, 3, h, w))

        fused = self.run_tiled(forward, planes, tile=self.tile)
        return fused.transpose(1, 2, 0)

    def _fuse_tree(self, images: np.ndarray) -> np.ndarray:
        """Neighbouring pairs fused, then pairs of those results, until one is left (an odd
        one out goes up a level as it is): each source passes through about log2(K) fusions,
        not K - 1."""
        level = list(images)
        while len(level) > 1:
            level = [
                pair[0] if len(pair) == 1 else self._fuse_rgb(np.stack(pair))
                for pair in (level[i : i + 2] for i in range(0, len(level), 2))
            ]
        return level[0]

    def fuse_stack(self, stack: Stack) -> Fusion:
        images = stack.images
        grey = images.shape[-1] == 1
        if grey:
            images = np.repeat(images, 3, axis=-1)
        if self.many == "tree":
            fused = self._fuse_tree(images)
        else:
            group = {"threes": GROUP, "fold": 2, "reduce": len(images)}[self.many]
            fused = self._fuse_rgb(images[:group])
            for start in range(group, len(images), group - 1):
                fused = self._fuse_rgb(
                    np.concatenate([fused[None], images[start : start + group - 1]])
                )
        if grey:
            fused = fused.mean(axis=-1, keepdims=True)
        return Fusion(image=np.clip(fused, 0.0, 1.0).astype(np.float32))


@register
class UFAFusePaperFuser(UFAFuseFuser):
    """UFA-Fuse as the paper gives it (Table II): the reconstruction redraws the whole image
    through a sigmoid, with no residual over the sources. Its weights (``ufa_fuse.cpu``) are
    the ones ``ufa-fuse``'s were fine-tuned from. Same options as `UFAFuseFuser`."""

    name = "ufa-fuse-paper"
    summary = "UFA-Fuse, the paper's network: it redraws the whole fused image (no residual)"
    pretrained = "ufa_fuse.cpu"
    default_precision = "float32"  # bfloat16 not measured on its (non-residual) weights
