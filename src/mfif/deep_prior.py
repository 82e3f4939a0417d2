"""DFP's per-stack fitting (Algorithms 1 and 2): a SKIPnet is fitted to one stack, no dataset.
It runs when a stack is fused (`mfif.methods.dfp`), so it lives outside `mfif.training`.

This is not `mfif.training.fit`: there are no batches to draw, nothing is checkpointed and the
run stops on a plateau of its own loss. What the two share is the optimiser (Adam) and the
device choice.

Tensors are (B, C, H, W) float32; the sources are (N, C, h, w) at input resolution and the
fused image (1, C, s·h, s·w) at output resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .models.dfp import SkipNet
from .resample import ENLARGEMENTS, START_OF, back_projected_upsample, downsample_torch

__all__ = [
    "PlateauRule",
    "Plateau",
    "fit_prior",
    "content_loss",
    "joint_gradient_loss",
    "gradient_limit_loss",
    "laplacian",
    "decision_loss",
    "straight_through_one_hot",
    "embed_decision",
    "reconstruct",
    "INPUT_KINDS",
]

INPUT_KINDS = ("average", "noise")
_NOISE_AMPLITUDE = 0.1  # uniform noise input in [0, 0.1), as deep image priors use

# Eq. (21)'s weights α, β, γ.
CONTENT_WEIGHT, JOINT_GRADIENT_WEIGHT, GRADIENT_LIMIT_WEIGHT = 1.0, 0.5, 0.1


@dataclass(frozen=True)
class PlateauRule:
    """When a per-stack fit stops: from its losses alone, never from a ground truth.

    The loss is smoothed by an exponential moving average over about ``window`` iterations;
    the fit stops once the smoothed loss has fallen by less than ``tolerance`` (relative) over
    the last ``window`` iterations, but not before ``minimum`` iterations, and always at
    ``maximum``.
    """

    window: int = 50
    tolerance: float = 5e-3
    minimum: int = 100
    maximum: int = 1000

    def __post_init__(self) -> None:
        if self.window < 1 or self.maximum < 1 or not 0 <= self.minimum <= self.maximum:
            raise ValueError(f"inconsistent plateau rule {self}")


class Plateau:
    """The running state of a `PlateauRule`: feed it each iteration's loss."""

    def __init__(self, rule: PlateauRule) -> None:
        self.rule = rule
        self.smoothed: list[float] = []
        self._decay = 1.0 - 2.0 / (rule.window + 1)

    def update(self, loss: float) -> bool:
        """Record one iteration's loss; True when the fit should stop."""
        previous = self.smoothed[-1] if self.smoothed else loss
        self.smoothed.append(self._decay * previous + (1.0 - self._decay) * loss)
        done = len(self.smoothed)
        if done >= self.rule.maximum:
            return True
        if done < max(self.rule.minimum, self.rule.window + 1):
            return False
        before = self.smoothed[-1 - self.rule.window]
        return before - self.smoothed[-1] < self.rule.tolerance * abs(before)


def fit_prior(
    network: SkipNet,
    network_input: torch.Tensor,
    loss: Callable[[torch.Tensor], torch.Tensor],
    *,
    rule: PlateauRule,
    learning_rate: float,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[torch.Tensor, int]:
    """Fit ``network`` so that ``loss(network(network_input))`` is small; the last output.

    Parameters
    ----------
    network : SkipNet
    network_input : torch.Tensor of shape (1, C, H, W)
    loss : callable
        Output -> scalar tensor.
    rule : PlateauRule
    learning_rate : float
        Adam's.
    progress : callable, optional
        Called after each iteration with (iteration, loss).

    Returns
    -------
    output : torch.Tensor
        The network's output at the last iteration, detached.
    iterations : int
    """
    optimiser = torch.optim.Adam(network.parameters(), lr=learning_rate)
    plateau = Plateau(rule)
    network.train()
    iteration = 0
    while True:
        output = network(network_input)
        value = loss(output)
        optimiser.zero_grad(set_to_none=True)
        value.backward()
        optimiser.step()
        iteration += 1
        scalar = float(value.detach())
        if progress is not None:
            progress(iteration, scalar)
        if plateau.update(scalar):
            return output.detach(), iteration


def laplacian(images: torch.Tensor) -> torch.Tensor:
    """The 4-neighbour Laplacian ∇_L of each channel, edges replicated; (B, C, H, W)."""
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    return (
        padded[..., :-2, 1:-1]
        + padded[..., 2:, 1:-1]
        + padded[..., 1:-1, :-2]
        + padded[..., 1:-1, 2:]
        - 4 * images
    )


def content_loss(
    downsampled: torch.Tensor, sources: torch.Tensor, masks: torch.Tensor
) -> torch.Tensor:
    """Eq. (22) for N sources: Σ_k mean(m_k · |D(Î) − I_k|), with I_back (not I_fore, a misprint)
    in the second term for two sources.

    Parameters
    ----------
    downsampled : torch.Tensor of shape (1, C, h, w)
        D(Î), the fused image brought to input resolution.
    sources : torch.Tensor of shape (N, C, h, w)
    masks : torch.Tensor of shape (N, 1, h, w), summing to 1 over N
    """
    return (masks * (downsampled - sources).abs()).sum(dim=0).mean()


def joint_gradient_loss(downsampled: torch.Tensor, joint_laplacian: torch.Tensor) -> torch.Tensor:
    """Eq. (23): mean |∇_L D(Î) − J|, J the sources' joint Laplacian (`joint_laplacian_of`)."""
    return (laplacian(downsampled) - joint_laplacian).abs().mean()


def joint_laplacian_of(sources: torch.Tensor) -> torch.Tensor:
    """Eq. (23)'s max(∇_L I_fore, ∇_L I_back) for N sources: per pixel and channel, the
    Laplacian of largest magnitude (a signed maximum would favour bright ridges over dark
    ones). (N, C, h, w) -> (1, C, h, w)."""
    laplacians = laplacian(sources)
    strongest = laplacians.abs().argmax(dim=0, keepdim=True)
    return torch.gather(laplacians, 0, strongest)


def gradient_limit_loss(image: torch.Tensor) -> torch.Tensor:
    """Eq. (24) as total variation: mean |∇x Î| + |∇y Î| (the printed sum of signed
    differences telescopes to the border values; the text asks it to damp oscillation)."""
    horizontal = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    vertical = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    return horizontal + vertical


def fusion_loss(
    image: torch.Tensor,
    sources: torch.Tensor,
    masks: torch.Tensor,
    joint_laplacian: torch.Tensor,
    scale: int,
    *,
    joint_gradient_weight: float = JOINT_GRADIENT_WEIGHT,
    degradation: str = "lanczos2",
) -> torch.Tensor:
    """Eq. (21) on the fused image Î (1, C, s·h, s·w): L_con + 0.5·L_jgrad + 0.1·L_grad, the
    first two on Î downsampled by ``scale`` under ``degradation`` (Algorithm 1, line 6:
    Lanczos-2; `mfif.resample.DEGRADATIONS`)."""
    downsampled = downsample_torch(image, scale, degradation)
    total = CONTENT_WEIGHT * content_loss(downsampled, sources, masks)
    if joint_gradient_weight:
        total = total + joint_gradient_weight * joint_gradient_loss(downsampled, joint_laplacian)
    return total + GRADIENT_LIMIT_WEIGHT * gradient_limit_loss(image)


def straight_through_one_hot(logits: torch.Tensor) -> torch.Tensor:
    """Algorithm 2's binarisation for N maps: the one-hot of the largest logit in the forward
    pass, the softmax's gradient in the backward pass (straight-through estimator).
    (1, N, H, W) -> (1, N, H, W)."""
    soft = torch.softmax(logits, dim=1)
    # argmax over a contiguous last axis: over the strided channel axis it is ~20x slower.
    winner = soft.permute(0, 2, 3, 1).contiguous().argmax(dim=-1)
    hard = F.one_hot(winner, soft.shape[1]).permute(0, 3, 1, 2).to(soft.dtype)
    return hard + (soft - soft.detach())  # exactly the one-hot forward; the softmax gradient


def decision_loss(
    embedded: torch.Tensor, handcrafted: torch.Tensor, deficit: torch.Tensor
) -> torch.Tensor:
    """Eq. (20) for N maps: ½ Σ_k mean |m̂_k − m_k| + Σ_k mean(m̂_k · deficit_k).

    The first term is the paper's |m̂ − m| (for two maps the ½ makes it exactly that). As
    printed, the other two terms, |m̂·I_fore − I_fore| + |(1 − m̂)·I_back − I_back|, reduce to
    (1 − m̂)·I_fore + m̂·I_back: they charge a source for being bright, not for being blurred.
    mfif reads them as the focus evidence against each choice: ``deficit_k`` is how far
    source k's DoubleReblur score falls short of the best one, so choosing a source where
    another is clearly sharper costs, and choosing it where the evidence is weak costs little.

    Parameters
    ----------
    embedded : torch.Tensor of shape (1, N, H, W)
        m̂, binary in the forward pass.
    handcrafted : torch.Tensor of shape (1, N, H, W)
        m, DoubleReblur's one-hot map.
    deficit : torch.Tensor of shape (1, N, H, W), >= 0
    """
    agreement = 0.5 * (embedded - handcrafted).abs().sum(dim=1).mean()
    return agreement + (embedded * deficit).sum(dim=1).mean()


def _network_input(images: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """The fixed input n of Algorithms 1 and 2: the mean of ``images`` (N, C, H, W) or noise of
    the same shape (1, C, H, W)."""
    if kind == "average":
        return images.mean(dim=0, keepdim=True)
    if kind == "noise":
        shape = (1, *images.shape[1:])
        noise = torch.rand(shape, generator=generator, dtype=images.dtype)
        return (_NOISE_AMPLITUDE * noise).to(images.device)
    raise ValueError(f"input must be one of {', '.join(INPUT_KINDS)}, not {kind!r}")


def embed_decision(
    luma: torch.Tensor,
    handcrafted: torch.Tensor,
    deficit: torch.Tensor,
    *,
    widths: tuple[int, ...],
    kernel: int,
    input_kind: str,
    rule: PlateauRule,
    learning_rate: float,
    generator: torch.Generator,
    unshuffle: int = 1,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[torch.Tensor, int]:
    """Algorithm 2: a SKIPnet fitted to refine DoubleReblur's decision map.

    Parameters
    ----------
    luma : torch.Tensor of shape (N, 1, H, W), in [0, 1]
        The sources' luminance (the average is the network's input).
    handcrafted : torch.Tensor of shape (1, N, H, W)
        DoubleReblur's one-hot map m.
    deficit : torch.Tensor of shape (1, N, H, W), >= 0
        Focus evidence against each source (`decision_loss`).
    widths, kernel
        The SKIPnet's.
    input_kind : {"average", "noise"}
    rule, learning_rate, progress
        As `fit_prior`.
    generator : torch.Generator
        Seeds the network's initial weights and the noise input.
    unshuffle : int
        The SKIPnet works at 1/``unshuffle`` of the map's size (`SkipNet`).

    Returns
    -------
    map : torch.Tensor of shape (1, N, H, W), one-hot
    iterations : int
    """
    count = handcrafted.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
        network = SkipNet(
            1,
            count,
            widths=_fitting_widths(widths, *luma.shape[-2:], unshuffle),
            kernel=kernel,
            sigmoid=False,
            unshuffle=unshuffle,
        )
    network = network.to(luma.device)
    network_input = _network_input(luma, input_kind, generator)
    output, iterations = fit_prior(
        network,
        network_input,
        lambda logits: decision_loss(straight_through_one_hot(logits), handcrafted, deficit),
        rule=rule,
        learning_rate=learning_rate,
        progress=progress,
    )
    return straight_through_one_hot(output).detach(), iterations


def reconstruct(
    sources: torch.Tensor,
    masks: torch.Tensor,
    *,
    scale: int,
    widths: tuple[int, ...],
    kernel: int,
    input_kind: str,
    residual: bool,
    joint_gradient: bool,
    rule: PlateauRule,
    learning_rate: float,
    generator: torch.Generator,
    unshuffle: int = 1,
    base: str = "bicubic",
    degradation: str = "lanczos2",
    progress: Callable[[int, float], None] | None = None,
) -> tuple[torch.Tensor, int]:
    """Algorithm 1's loop: a SKIPnet whose output, downsampled by ``scale`` under
    ``degradation``, matches each source where the decision map chooses it (eqs. (21)-(24)).

    Parameters
    ----------
    sources : torch.Tensor of shape (N, C, h, w), in [0, 1]
    masks : torch.Tensor of shape (N, 1, h, w)
        The decision map, summing to 1 over N.
    scale : int
        s; the output is (1, C, s·h, s·w).
    widths, kernel
        The SKIPnet's.
    input_kind : {"average", "noise"}
        The network's fixed input: the average of the bicubic-upsampled sources (×s), or noise.
    residual : bool
        Start from the enlarged decision fusion (``base``): the network's logits are added to
        its logit, so the fit refines it instead of growing the image from nothing.
    joint_gradient : bool
        Include L_jgrad (False: the ablation).
    rule, learning_rate, progress
        As `fit_prior`.
    generator : torch.Generator
        Seeds the initial weights and the noise input.
    unshuffle : int
        The SKIPnet works at 1/``unshuffle`` of the output's size (`SkipNet`).
    base : {"bicubic", "back-projection", "learned"}
        How the residual form's starting image is enlarged: bicubically, or by
        `mfif.resample.back_projected_upsample` (consistent with the degradation model) from
        Lanczos-4 or from the learned ×2 start (`mfif.learned_start`).
    degradation : str
        How the sources were made from the scene (`mfif.resample.DEGRADATIONS`; the paper's
        Lanczos-2 by default).

    Returns
    -------
    image : torch.Tensor of shape (1, C, s·h, s·w), in (0, 1)
    iterations : int
    """
    channels = sources.shape[1]
    upsampled = _bicubic(sources, scale)
    network_input = _network_input(upsampled, input_kind, generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
        network = SkipNet(
            channels,
            channels,
            widths=_fitting_widths(widths, *upsampled.shape[-2:], unshuffle),
            kernel=kernel,
            sigmoid=False,
            unshuffle=unshuffle,
        )
    if residual:  # start exactly at the base image
        torch.nn.init.zeros_(network.head.weight)
        torch.nn.init.zeros_(network.head.bias)
        fused = (masks * sources).sum(dim=0, keepdim=True)
        base_image = _enlarged(fused, scale, base, degradation)
        base_logit = torch.logit(base_image.clamp(1e-3, 1 - 1e-3))
    else:
        base_logit = torch.zeros((), device=sources.device)
    network = network.to(sources.device)
    joint = joint_laplacian_of(sources)
    weight = JOINT_GRADIENT_WEIGHT if joint_gradient else 0.0

    def loss(logits: torch.Tensor) -> torch.Tensor:
        image = torch.sigmoid(logits + base_logit)
        return fusion_loss(
            image,
            sources,
            masks,
            joint,
            scale,
            joint_gradient_weight=weight,
            degradation=degradation,
        )

    logits, iterations = fit_prior(
        network, network_input, loss, rule=rule, learning_rate=learning_rate, progress=progress
    )
    return torch.sigmoid(logits + base_logit), iterations


def _fitting_widths(
    widths: tuple[int, ...], height: int, width: int, unshuffle: int = 1
) -> tuple[int, ...]:
    """``widths`` without the scales that would shrink the image below 4 pixels (batch
    normalisation needs more than one value per channel); the network works at 1/``unshuffle``
    of the image's size."""
    side = min(height, width) / unshuffle
    usable = max(1, int(np.log2(max(side, 8) / 4)))
    return widths[:usable]


def _enlarged(image: torch.Tensor, scale: int, base: str, degradation: str) -> torch.Tensor:
    """The residual form's starting image: ``image`` (1, C, h, w) enlarged by ``scale``."""
    if base == "bicubic" or scale == 1:
        return _bicubic(image, scale)
    if base not in ENLARGEMENTS:
        raise ValueError(f"base must be one of {', '.join(ENLARGEMENTS)}, not {base!r}")
    planes = image[0].permute(1, 2, 0).cpu().numpy()
    enlarged = back_projected_upsample(planes, scale, degradation=degradation, start=START_OF[base])
    enlarged = enlarged.reshape(*enlarged.shape[:2], -1)
    return torch.from_numpy(enlarged).permute(2, 0, 1)[None].to(image.device, image.dtype)


def _bicubic(images: torch.Tensor, scale: int) -> torch.Tensor:
    if scale == 1:
        return images
    upsampled = F.interpolate(images, scale_factor=scale, mode="bicubic", align_corners=False)
    return upsampled.clamp(0.0, 1.0)
