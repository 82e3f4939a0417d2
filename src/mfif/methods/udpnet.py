"""UDPNet as a fusion method: luminance in, G's final masks out (UDPNet eq. (1)), colour
carried by the masks, tiled so memory stays bounded on large images."""

from __future__ import annotations

import os

import numpy as np

from ..errors import MfifError
from ..fusion import WeightedFuser
from ..tiling import run_tiled

__all__ = ["UDPNetFuser"]


class UDPNetFuser(WeightedFuser):
    """UDPNet (Quan et al.): unsupervised dual-path network; fuses with the image fuser G's
    masks (or, for a mask-predictor-only checkpoint, F's refined masks).

    Parameters
    ----------
    weights : path-like, optional
        A checkpoint or exported state dict; default: the shipped ``udpnet`` weights.
    tile : int
        Tile side for inference (the non-local block's memory grows with the tile area).
    device : str, optional
        "cuda" or "cpu"; default CUDA when available.
    """

    name = "udpnet"
    summary = "UDPNet: unsupervised dual-path network (Quan et al.), shipped weights"

    def __init__(
        self, weights: str | os.PathLike | None = None, tile: int = 128, device: str | None = None
    ) -> None:
        import torch

        from ..models.udpnet import UDPNet
        from ..weights import weights_file

        if weights is None:
            path, digest = weights_file("udpnet")
        else:
            path, digest = weights, None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as error:
            raise MfifError(f"Cannot load UDPNet weights from {path}: {error}") from None
        state = state.get("model", state)
        use_fuser = any(key.startswith("fuser.") for key in state)
        self.model = UDPNet(use_fuser=use_fuser)
        self.model.load_state_dict(state, strict=True)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.tile = tile
        self.weights_sha256 = digest
        self.parameter_count = sum(
            p.numel() for p in (self.model.fuser or self.model.predictor).parameters()
        )

    def weights(self, luma: np.ndarray) -> np.ndarray:
        import torch

        def masks_of(tile: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                tensor = torch.from_numpy(np.ascontiguousarray(tile))[None].to(self.device)
                return self.model.fusion_masks(tensor)[0].cpu().numpy()

        masks = run_tiled(masks_of, luma.astype(np.float32), tile=self.tile, overlap=self.tile // 8)
        masks = np.clip(masks, 0.0, None)
        return (masks / np.maximum(masks.sum(axis=0, keepdims=True), 1e-6)).astype(np.float32)

    def __repr__(self) -> str:
        return f"UDPNetFuser(tile={self.tile}, weights_sha256={self.weights_sha256!r})"
