"""UFA-Fuse's training recipe: supervised regression of the all-in-focus image from synthetic
stacks with exact ground truth (UFA-Fuse sections III-A, III-C and IV-A).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from ..data.focus_stacks import StackSampler
from ..data.natural import natural_items
from ..models.ufa_fuse import UFAFuse
from .fit import Schedule
from .natural_runs import fit_on_natural, one_data_folder
from .recipes import UFA_FUSE_RECIPES, UFAFuseRecipe

__all__ = ["build_model", "schedule_of", "ufa_fuse_loss", "validation_stacks", "train_ufa_fuse"]


def build_model(recipe: UFAFuseRecipe) -> UFAFuse:
    """A freshly initialised model of ``recipe`` (seed torch first for a repeatable draw)."""
    model = UFAFuse(
        recipe.width,
        channel_attention=recipe.channel_attention,
        spatial_attention=recipe.spatial_attention,
        reduction=recipe.reduction,
    )
    if recipe.init == "identity":
        identity_start(model)
    return model


def identity_start(model: torch.nn.Module, keep: float = 0.1) -> None:
    """Start every 3x3 and 1x1 convolution as the identity on the channels it shares with its
    output, plus ``keep`` times its default random draw; biases start at zero.

    The sources are in [0, 1] and LeakyReLU passes positive values, so the untrained network
    already carries the sources' colours to its output; training then learns what to change
    rather than how to copy.
    """
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, torch.nn.Conv2d) or module.kernel_size not in (
                (3, 3),
                (1, 1),
            ):
                continue
            out_channels, in_channels, height, width = module.weight.shape
            module.weight.mul_(keep)
            for channel in range(min(out_channels, in_channels)):
                module.weight[channel, channel, height // 2, width // 2] += 1.0
            if module.bias is not None:
                module.bias.zero_()


def schedule_of(recipe: UFAFuseRecipe) -> Schedule:
    """Adam from ``learning_rate``, divided by 10 every ``decay_every`` steps."""
    return Schedule(recipe.learning_rate, decay_every=recipe.decay_every, decay_factor=10.0)


def ufa_fuse_loss(fused: torch.Tensor, truth: torch.Tensor, l1_weight: float) -> torch.Tensor:
    """Eq. (1): λ L1 + (1 - λ) (1 - SSIM), SSIM with an 11 x 11 Gaussian window (kornia).

    Shapes: fused, truth (B, 3, H, W) in [0, 1].
    """
    from kornia.metrics import ssim

    l1 = (fused - truth).abs().mean()  # eq. (2)
    structural = 1.0 - ssim(fused, truth, 11).mean()  # eqs. (3), (4)
    return l1_weight * l1 + (1.0 - l1_weight) * structural


def _batch(
    sampler: StackSampler, rng: np.random.Generator, recipe: UFAFuseRecipe
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sources (B, K, 3, P, P), truth (B, 3, P, P)) float32; one K for the whole batch."""
    count = 3 if rng.random() < recipe.three_source_share else 2
    pairs = [sampler.draw(rng, recipe.patch, count) for _ in range(recipe.batch_size)]
    sources = np.stack([s for s, _ in pairs]).transpose(0, 1, 4, 2, 3)
    truth = np.stack([t for _, t in pairs]).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(sources)), torch.from_numpy(
        np.ascontiguousarray(truth)
    )


def validation_stacks(
    items, *, count: int = 16, size: int = 256, seed: int = 1234
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fixed set of validation stacks: (sources (K, S, S, 3), truth (S, S, 3)) float32; every
    fourth one has three sources."""
    sampler = StackSampler(items, grey_probability=0.0)
    rng = np.random.default_rng(seed)
    return [sampler.draw(rng, size, 3 if n % 4 == 3 else 2) for n in range(count)]


def train_ufa_fuse(
    data: str | os.PathLike | Sequence[str | os.PathLike],
    checkpoint: str | os.PathLike,
    *,
    recipe: UFAFuseRecipe = UFA_FUSE_RECIPES["cpu"],
    seed: int = 0,
    checkpoint_every: int = 100,
    validate: bool | Sequence[str | os.PathLike] = True,
    validate_every: int = 250,
    device: str | None = None,
    progress: bool = True,
) -> tuple[UFAFuse, object, dict]:
    """Train UFA-Fuse on stacks drawn from the training split of ``data`` (a
    ``datasets/natural`` folder); resumable from ``checkpoint``.

    Returns
    -------
    model, history, record
        ``record`` holds the split and the data description for the manifest.
    """
    data = one_data_folder(data, "UFA-Fuse")
    items = natural_items(data)
    sampler = StackSampler([item for item in items if item.split == "train"])
    torch.manual_seed(seed)
    model = build_model(recipe)

    def loss_of_step(net, numpy_generator, torch_generator):
        sources, truth = _batch(sampler, numpy_generator, recipe)
        device_of_net = next(net.parameters()).device
        sources, truth = sources.to(device_of_net), truth.to(device_of_net)
        return ufa_fuse_loss(net(sources), truth, recipe.l1_weight), {}

    def method():
        from ..methods.ufa_fuse import UFAFuseFuser

        return UFAFuseFuser

    history, record = fit_on_natural(
        model,
        loss_of_step,
        schedule_of(recipe),
        recipe,
        data=data,
        items=items,
        sampler=sampler,
        method=method,
        own_validation=validation_stacks,
        checkpoint=checkpoint,
        seed=seed,
        checkpoint_every=checkpoint_every,
        validate=validate,
        validate_every=validate_every,
        device=device,
        progress=progress,
    )
    return model, history, record
