"""UDPNet as a fusion method: luminance in, G's final masks out (UDPNet eq. (1)), colour
carried by the masks, tiled so memory stays bounded on large images."""

from __future__ import annotations

import os
from typing import ClassVar

import cv2
import numpy as np

from ..decision import guided_filter, hard_decision, normalise_weights
from ..fusion import WeightedFuser
from ..options import Option
from .network import PRECISION_OPTION, NetworkFuser
from .registry import register

__all__ = ["UDPNetFuser", "UDPNetPaperFuser", "without_top_octave"]


@register
class UDPNetFuser(NetworkFuser, WeightedFuser):
    """UDPNet (Quan et al.): unsupervised dual-path network; fuses with the image fuser G's
    masks (or, for a mask-predictor-only checkpoint, F's refined masks).

    mfif's shipped UDPNet differs from the paper in three measured ways: its initial masks use
    the Laplacian instead of eq. (3)'s gradient (the weights record which), its masks are
    turned into a clean decision map (``decision="hard"``), and it sees its sources without
    their top octave (below). `UDPNetPaperFuser` is the paper's own recipe; README and
    ``benchmarks/udpnet_ablations.py`` give the numbers of both.

    The network sees its sources without their top octave (`without_top_octave`): its masks
    followed that octave, where resampling softens every moved frame (a half-pixel phase
    removes it) and camera noise lies. Fed as they were, registered stacks gave the frame
    that alignment leaves as it is 68 % and 76 % of ring's and zig's depth map (3 % and 0 %
    unaligned) and blurred prongs that other frames hold sharp. Band-limited (README, float32):
    zig 1 %, ring still 51 % (its breathing frames lose more of the octave below this one);
    PSNR +0.01-0.09 dB on clean pairs, -0.03 on the slightly noisy moved set (one scene -1.5),
    +0.4 on the layered halo set, +0.8-0.9 on the noisy sets. With today's defaults (bfloat16,
    every region kept) the ring gives the reference 6 % aligned, 11 % unaligned.

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
        Default 0 (every region kept): 0.002, the earlier default, handed small sharp details
        (specks, fibres) to a blurred surrounding and was lower on every ground-truth set but
        one (README).
    device : str, optional
        "cuda" or "cpu"; default CUDA when available.
    precision : {"auto", "float32", "bfloat16"}, optional
        Default "auto": bfloat16 on a CPU with native bfloat16, about 1.6 times faster and
        0.01 dB lower on average over eight ground-truth sets (-0.14 to +0.06, README), else
        float32. ``udpnet-paper`` defaults to float32.
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
    # Entry of weights/MANIFEST.json: G with 8 channels at full resolution instead of 12, about
    # a third faster for 0.03 dB less on average over eight ground-truth sets (README); the
    # wider network ships as "udpnet.mfif" (``weights="udpnet.mfif"``).
    pretrained = "udpnet.mfif-narrow"
    default_precision = "auto"
    network = "UDPNet"
    default_decision = "hard"
    band_limited: ClassVar[bool] = True  # the sources without their top octave

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        tile: int = 160,
        scale: float = 1.0,
        refine: bool = True,
        decision: str | None = None,
        min_region: float = 0.0,
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
        if self.band_limited:
            luma = without_top_octave(luma)
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
    default_precision = "float32"  # bfloat16 not measured on the paper's weights
    default_decision = "soft"
    band_limited = False  # the paper's inference, sources as they are


# OpenCV's bicubic weights (a = -0.75) half-way between two pixels; a shift by half a pixel and
# back filters with this kernel convolved with its mirror image.
_HALF_PIXEL = np.array([-0.09375, 0.59375, 0.59375, -0.09375])
_TOP_OCTAVE_NULL = np.convolve(_HALF_PIXEL, _HALF_PIXEL[::-1]).astype(np.float32)


def without_top_octave(planes: np.ndarray) -> np.ndarray:
    """Planes (N, H, W) filtered as a bicubic shift by half a pixel and back filters them:
    zero response at the Nyquist frequency, 0.95 at half of it (periods of 4 pixels), 1 at
    zero frequency; edges replicated.

    Resampling a frame at a fractional phase softens its top octave by an amount that
    depends on the phase (at half a pixel it removes the Nyquist frequency), and the frame
    alignment takes as reference is not resampled at all; with this filter first, the
    frequencies nearest Nyquist, where that difference is largest, are removed from every
    frame alike, and their noise with them. Lower in the octave the difference remains.

    Parameters
    ----------
    planes : ndarray of shape (N, H, W), float

    Returns
    -------
    ndarray of shape (N, H, W), float32
    """
    kernel = _TOP_OCTAVE_NULL
    return np.stack(
        [
            cv2.sepFilter2D(
                np.asarray(plane, np.float32), -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE
            )
            for plane in planes
        ]
    )
