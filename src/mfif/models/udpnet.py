"""UDPNet: Quan, Wan, Zheng, Huang, Ji, "Dual-Path Deep Unsupervised Learning for Multi-Focus
Image Fusion" (../shared/papers/udpnet-dual-path-unsupervised.txt). The architecture only;
losses and training are in `mfif.training.udpnet`, the fuser in `mfif.methods.udpnet`.

Two networks work on luminance stacks of shape (B, K, H, W) in [0, 1], K >= 2 sources:

- the mask predictor F (section III-B) refines an initial maximal-gradient mask (eq. (3));
- the image fuser G (section III-C) unrolls T proximal-gradient steps (eqs. (6)-(11)) that
  alternate a mask estimator and an image estimator.

Both act on each source with shared weights, so one model serves any K (Remark 1).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import SkipUNet

__all__ = ["MaskPredictor", "ImageFuser", "UDPNet", "initial_masks", "compose", "INITIAL_OPERATORS"]

_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)


INITIAL_OPERATORS = ("gradient", "laplacian")


def initial_masks(sources: torch.Tensor, operator: str = "gradient") -> torch.Tensor:
    """Maximal-activity masks: 1 where a source has the largest focus activity, ties shared.

    ``operator="gradient"`` is UDPNet eq. (3): the magnitude of the forward-difference
    gradient. ``"laplacian"`` (our variant, not in the paper) uses |∇²S| with the 4-neighbour
    Laplacian: its wrong picks fall where the sources differ less, so fusing by these masks
    alone is 2-5 dB better on our synthetic sets (README) and F learns from cleaner targets.

    Shape: sources (B, K, H, W) -> masks (B, K, H, W), values in {0, 1/n, 1}.
    """
    if operator == "gradient":
        dx = F.pad(sources[..., :, 1:] - sources[..., :, :-1], (0, 1, 0, 0))
        dy = F.pad(sources[..., 1:, :] - sources[..., :-1, :], (0, 0, 0, 1))
        magnitude = torch.sqrt(dx * dx + dy * dy)
    elif operator == "laplacian":
        batch, count, height, width = sources.shape
        flat = F.pad(sources.reshape(batch * count, 1, height, width), (1, 1, 1, 1), "replicate")
        magnitude = F.conv2d(flat, _LAPLACIAN.to(sources)).abs().reshape(sources.shape)
    else:
        raise ValueError(f"operator must be one of {INITIAL_OPERATORS}; got {operator!r}.")
    # eq. (3) prints sgn(max - |∇S_k|), which is 0 at the winner; the text means the reverse.
    winners = (magnitude == magnitude.amax(dim=1, keepdim=True)).to(sources.dtype)
    return winners / winners.sum(dim=1, keepdim=True)


def compose(masks: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """A = Σ_k M_k ⊙ S_k (eq. (1)); shapes (B, K, H, W) -> (B, 1, H, W)."""
    return (masks * sources).sum(dim=1, keepdim=True)


class MaskPredictor(nn.Module):
    """F: [0, 1]^(H x W) -> [0, 1]^(H x W), an encoder-decoder with skip connections and a
    sigmoid output, applied to each source's mask separately.

    Shape: (B, K, H, W) -> (B, K, H, W).
    """

    def __init__(self, width: int = 12, levels: int = 2) -> None:
        super().__init__()
        self.net = SkipUNet(1, 1, width, levels=levels)

    def forward(self, masks: torch.Tensor) -> torch.Tensor:
        """Refined masks (B, K, H, W) in (0, 1) from initial masks (B, K, H, W) in [0, 1]."""
        batch, count, height, width = masks.shape
        flat = masks.reshape(batch * count, 1, height, width)
        return torch.sigmoid(self.net(flat)).reshape(batch, count, height, width)


class ImageFuser(nn.Module):
    """G: T unrolled proximal-gradient stages for eq. (8).

    Per stage t (eq. (9)): M <- P_ψ(M - ρ_M ∇_M h(A, M)) by the mask estimator (sigmoid), then
    A <- P_φ(A - ρ_A ∇_A h(A, M)) by the image estimator (a non-local block in its bottleneck),
    with the gradients of eqs. (10), (11) and learnable step sizes ρ. The mask estimator sees,
    per source, the gradient-stepped mask, the source and the current image; the image
    estimator refines the gradient-stepped image as a residual.

    Shape: sources (B, K, H, W) -> (image (B, 1, H, W), [masks of every stage (B, K, H, W)]).
    """

    def __init__(
        self,
        stages: int = 3,
        width: int = 12,
        weight: float = 1.0,
        levels: int = 2,
        initial_operator: str = "gradient",
    ) -> None:
        super().__init__()
        self.stages = stages
        self.initial_operator = initial_operator
        self.weight = weight  # λ of eq. (6)
        self.mask_estimators = nn.ModuleList(
            SkipUNet(3, 1, width, levels=levels) for _ in range(stages)
        )
        self.image_estimators = nn.ModuleList(
            SkipUNet(1, 1, width, non_local=True, levels=levels) for _ in range(stages)
        )
        self.mask_steps = nn.Parameter(torch.full((stages,), 0.1))
        self.image_steps = nn.Parameter(torch.full((stages,), 0.1))

    def forward(
        self, sources: torch.Tensor, final_image: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``final_image=False`` skips the last image estimator: inference by eq. (1) needs
        only the last masks, and the returned image is then the one of stage T - 1."""
        batch, count, height, width = sources.shape
        masks = initial_masks(sources, self.initial_operator)
        image = compose(masks, sources)
        history = []
        for t in range(self.stages):
            residual = image - compose(masks, sources)
            # eq. (10): ∇_M h = -2λ S ⊙ Σᵀ(A - Σ(M ⊙ S)) - 2 Σᵀ(1 - Σ M)
            gradient = -2 * self.weight * sources * residual - 2 * (1 - masks.sum(1, keepdim=True))
            stepped = masks - self.mask_steps[t] * gradient
            per_source = torch.stack(
                [stepped, sources, image.expand(-1, count, -1, -1)], dim=2
            ).reshape(batch * count, 3, height, width)
            logits = self.mask_estimators[t](per_source).reshape(batch, count, height, width)
            masks = torch.sigmoid(logits)
            history.append(masks)
            if t == self.stages - 1 and not final_image:
                break
            # eq. (11): ∇_A h = 2λ (A - Σ(M ⊙ S)), with the new masks
            stepped_image = image - self.image_steps[t] * 2 * self.weight * (
                image - compose(masks, sources)
            )
            image = stepped_image + self.image_estimators[t](stepped_image)
        return image, history


class UDPNet(nn.Module):
    """The dual-path model: mask predictor F (training only) and image fuser G.

    ``use_fuser=False`` builds F alone (the "w/o G" ablation of Tables IV/V). ``*_levels`` set
    the depth of the encoder-decoders (their receptive field).
    """

    def __init__(
        self,
        *,
        use_fuser: bool = True,
        predictor_width: int = 12,
        fuser_width: int = 12,
        stages: int = 3,
        predictor_levels: int = 2,
        fuser_levels: int = 2,
        initial_operator: str = "gradient",
    ) -> None:
        super().__init__()
        if initial_operator not in INITIAL_OPERATORS:
            raise ValueError(f"initial_operator must be one of {INITIAL_OPERATORS}.")
        # Saved with the weights, so a model always meets the initial masks it was trained on.
        self.register_buffer(
            "initial_operator_index", torch.tensor(INITIAL_OPERATORS.index(initial_operator))
        )
        self.predictor = MaskPredictor(predictor_width, predictor_levels)
        self.fuser = (
            ImageFuser(stages, fuser_width, levels=fuser_levels, initial_operator=initial_operator)
            if use_fuser
            else None
        )
        self.register_load_state_dict_pre_hook(_default_operator)
        self.register_load_state_dict_post_hook(_follow_loaded_operator)

    @property
    def initial_operator(self) -> str:
        """Focus operator of the initial masks ("gradient" = eq. (3)), as the weights say."""
        return INITIAL_OPERATORS[int(self.initial_operator_index)]

    @classmethod
    def from_state_dict(cls, state: dict) -> UDPNet:
        """A model shaped to fit ``state`` (fuser present or not, encoder depths), loaded."""

        def levels(prefix: str) -> int:
            return sum(
                1
                for key in state
                if key.startswith(prefix) and key.endswith(".0.weight") and ".encoder" in key
            )

        use_fuser = any(key.startswith("fuser.") for key in state)
        fuser_width = state.get("fuser.mask_estimators.0.encoder1.0.weight")
        state = dict(state)
        # Weights saved before the operator was recorded were trained on eq. (3)'s gradient.
        operator_index = state.setdefault("initial_operator_index", torch.tensor(0))
        model = cls(
            initial_operator=INITIAL_OPERATORS[int(operator_index)],
            use_fuser=use_fuser,
            predictor_width=int(state["predictor.net.encoder1.0.weight"].shape[0]),
            fuser_width=int(fuser_width.shape[0]) if fuser_width is not None else 12,
            predictor_levels=levels("predictor.net.encoder"),
            fuser_levels=levels("fuser.mask_estimators.0.encoder") or 2,
        )
        model.load_state_dict(state, strict=True)
        return model

    def fusion_masks(self, sources: torch.Tensor) -> torch.Tensor:
        """Masks used at inference: G's final masks, or F's refined initial masks without G;
        normalised to sum to 1 over the sources (eq. (2)). (B, K, H, W) -> (B, K, H, W)."""
        if self.fuser is not None:
            masks = self.fuser(sources, final_image=False)[1][-1]
        else:
            masks = self.predictor(initial_masks(sources, self.initial_operator))
        return masks / masks.sum(dim=1, keepdim=True).clamp_min(1e-6)


def _default_operator(model: UDPNet, state: dict, prefix: str, *args) -> None:
    # Weights saved before the operator was recorded were trained on eq. (3)'s gradient.
    state.setdefault(prefix + "initial_operator_index", torch.tensor(0))


def _follow_loaded_operator(model: UDPNet, incompatible_keys) -> None:
    # The buffer is the one record of the operator; G reads it as a plain attribute.
    if model.fuser is not None:
        model.fuser.initial_operator = model.initial_operator
