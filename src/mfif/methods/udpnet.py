"""UDPNet as a fusion method: luminance in, G's final masks out (UDPNet eq. (1)), colour
carried by the masks, tiled so memory stays bounded on large images."""

from __future__ import annotations

import os

import cv2
import numpy as np

from ..decision import guided_filter, hard_decision, normalise_weights
from ..fusion import WeightedFuser
from ..options import Option
from .network import PRECISION_OPTION, NetworkFuser
from .registry import register

__all__ = ["UDPNetFuser", "UDPNetPaperFuser"]


@register
class UDPNetFuser(NetworkFuser, WeightedFuser):
    """UDPNet (Quan et al.): unsupervised dual-path network; fuses with the image fuser G's
    masks (or, for a mask-predictor-only checkpoint, F's refined masks).

    mfif's shipped UDPNet differs from the paper in two measured ways: its initial masks use
    the Laplacian instead of eq. (3)'s gradient (the weights record which), and its masks are
    turned into a clean decision map (``decision="hard"``). `UDPNetPaperFuser` is the paper's
    own recipe; README and ``benchmarks/udpnet_ablations.py`` give the numbers of both.

    Parameters
    ----------
    weights : path-like, optional
        A checkpoint or exported state dict; default: the method's shipped weights.
    tile : int
        Tile side for inference (the non-local block's memory grows with the tile area).
    scale : float
        Resolution at which the masks are predicted (1 = full). Below 1 the masks are upsampled
        bilinearly and, with ``refine``, snapped to the image's edges by a guided filter; the
        fusion itself (eq. (1)) is always at full resolution.
    refine : bool
        Guided-filter refinement of upsampled soft masks (guide: the fused luminance).
    decision : {"soft", "hard"}, optional
        Default "hard" (``udpnet-paper``: "soft"). "soft" fuses with G's masks as they are
        (UDPNet eq. (1), the paper's inference).
        "hard" (our addition) takes the source with the largest mask per pixel, hands regions
        smaller than ``min_region`` of the image to their surroundings and guided-filters the
        one-hot maps along the image's edges: a soft mask of 0.8 still mixes in 20 % of a
        blurred source, which costs several dB where the masks are uncertain.
    min_region : float
        With ``decision="hard"``: smallest region kept, as a fraction of the image area.
    device : str, optional
        "cuda" or "cpu"; default CUDA when available.
    precision : {"auto", "float32", "bfloat16"}, optional
        Default float32; "bfloat16" (or "auto" on a CPU with native bfloat16) is about 1.4
        times faster and 0.01-0.12 dB lower on held-out ground truth (README).
    """

    name = "udpnet"
    summary = "UDPNet (Quan et al.), mfif's recipe: Laplacian initial masks, clean decision map"
    options = {
        "weights": Option("path", optional=True),
        "tile": Option("int", low=32, high=4096),
        "scale": Option("float", low=0.1, high=1),
        "refine": Option("bool"),
        "decision": Option("str", choices=("soft", "hard"), optional=True),
        "min_region": Option("float", low=0, high=1, high_open=True),
        "device": Option("str", choices=("cpu", "cuda"), optional=True),
        "precision": PRECISION_OPTION,
    }
    pretrained = "udpnet.mfif"  # entry of weights/MANIFEST.json
    network = "UDPNet"
    default_decision = "hard"

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        tile: int = 160,
        scale: float = 1.0,
        refine: bool = True,
        decision: str | None = None,
        min_region: float = 0.002,
        device: str | None = None,
        precision: str | None = None,
        *,
        model=None,
    ) -> None:
        super().__init__(weights, device, model=model, precision=precision)
        self.tile = tile
        self.scale = scale
        self.refine = refine
        self.decision = decision or self.default_decision
        self.min_region = min_region

    @classmethod
    def build_model(cls, state: dict):
        from ..models.udpnet import UDPNet

        return UDPNet.from_state_dict(state.get("model", state))

    @staticmethod
    def count_parameters(model) -> int:
        # F (the mask predictor) only trains G; G alone runs at inference.
        return sum(p.numel() for p in (model.fuser or model.predictor).parameters())

    def weights(self, luma: np.ndarray) -> np.ndarray:
        count, height, width = luma.shape
        small = luma.astype(np.float32)
        if self.scale < 1.0:
            size = (max(8, round(width * self.scale)), max(8, round(height * self.scale)))
            small = np.stack(
                [cv2.resize(plane, size, interpolation=cv2.INTER_AREA) for plane in small]
            )
        masks = self.run_tiled(
            self.model.fusion_masks, small, tile=self.tile, overlap=self.tile // 8
        )
        if self.decision == "hard":
            masks = hard_decision(
                masks,
                small,
                min_region=self.min_region,
                radius=max(1, round(4 * self.scale)),
                eps=1e-3,
            )
        if self.scale < 1.0:
            masks = np.stack(
                [cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in masks]
            )
            if self.refine and self.decision == "soft":
                guide = (masks * luma).sum(axis=0) / np.maximum(masks.sum(axis=0), 1e-6)
                radius = max(1, round(2 / self.scale))
                masks = guided_filter(
                    guide.astype(np.float32), masks.astype(np.float32), radius=radius, eps=1e-3
                )
        return normalise_weights(masks)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tile={self.tile}, scale={self.scale}, refine={self.refine}, "
            f"decision={self.decision!r}, min_region={self.min_region}, "
            f"weights_sha256={self.weights_sha256!r})"
        )


@register
class UDPNetPaperFuser(UDPNetFuser):
    """UDPNet exactly as the paper gives it: weights trained on eq. (3)'s gradient masks,
    inference by eq. (1) with G's soft masks. Same options as `UDPNetFuser`."""

    name = "udpnet-paper"
    summary = "UDPNet as published: eq. (3) gradient masks, soft eq. (1) fusion"
    pretrained = "udpnet.paper"
    default_decision = "soft"
