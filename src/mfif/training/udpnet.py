"""UDPNet's training recipe: patch pairs from unlabelled stacks, blind-spot mask loss, unrolled
fuser supervised by the mask predictor, fusion consistency (UDPNet section III, eqs. (4)-(16)).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..color import luminance
from ..data.scenes import find_scenes
from ..errors import MfifError, OptionError, StackError
from ..io import load_stack
from .fit import FitConfig, Schedule, fit, recipe_settings
from .recipes import Trainer, recipe_field, register_trainer
from .validation import ground_truth_cases, scenes_validation

if TYPE_CHECKING:  # torch is imported when training runs, not when its flags are built
    import torch

    from ..models.udpnet import UDPNet

__all__ = [
    "UDPNetRecipe",
    "UDP_NET_RECIPES",
    "load_unlabelled_stacks",
    "sample_patches",
    "blind_spot",
    "udpnet_loss",
    "train_udpnet",
]


@dataclass(frozen=True)
class UDPNetRecipe:
    """Settings of a UDPNet training run (the paper's values where it gives them)."""

    patch: int = recipe_field(60, "side of the patch pairs (section IV-A: 60)", low=16, high=2048)
    batch_size: int = recipe_field(16, "patch pairs per step", low=1, high=4096)
    learning_rate: float = recipe_field(
        2e-4, "Adam's learning rate", low=0.0, high=1.0, low_open=True
    )
    alpha: float = recipe_field(0.4, "α of eq. (5)", low=0.0, high=100.0)
    beta: float = recipe_field(0.2, "β of eq. (16)", low=0.0, high=100.0)
    gamma: float = recipe_field(0.2, "γ of eq. (16)", low=0.0, high=100.0)
    keep: float = recipe_field(0.9, "Bernoulli p of the blind spot, eq. (4)", low=0.0, high=1.0)
    blind_spot: bool = recipe_field(True, "blind-spot masks (off: the 'w/o BS' ablation)")
    use_fuser: bool = recipe_field(True, "train G (off: the 'w/o G' ablation, F only)")
    predictor_levels: int = recipe_field(2, "encoder-decoder depth of F", low=1, high=4)
    fuser_levels: int = recipe_field(2, "encoder-decoder depth of G's estimators", low=1, high=4)
    fuser_width: int = recipe_field(12, "channels of G's estimators", low=1, high=256)
    initial_masks: str = recipe_field(
        "gradient",
        "focus operator of the initial masks: eq. (3)'s gradient or mfif's Laplacian",
        choices=("gradient", "laplacian"),
    )
    steps: int = recipe_field(3000, "optimiser steps of a full run", low=1)


UDP_NET_RECIPES = {
    "paper": UDPNetRecipe(),
    "mfif": UDPNetRecipe(initial_masks="laplacian", steps=4500),
}


# Recipe fields added after the first shipped checkpoint, with the values it was trained with.
_ADDED_LATER = {
    "predictor_levels": 2,
    "fuser_levels": 2,
    "fuser_width": 12,
    "initial_masks": "gradient",
}


def load_unlabelled_stacks(roots: Sequence[str | os.PathLike]) -> list[np.ndarray]:
    """Luminance of every stack's sources under ``roots`` (ground truths are never read).

    Returns a list of (K, H, W) float32 arrays in [0, 1].
    """
    scenes, _ = find_scenes(roots)
    stacks = []
    for scene in scenes:
        try:
            stack = load_stack(scene.sources)
        except MfifError:  # a broken scene is left out of training
            continue
        stacks.append(luminance(stack.images))
    if not stacks:
        raise StackError(
            f"No usable stacks (folders of A, B, ... images of one size) under "
            f"{', '.join(map(str, roots))}."
        )
    return stacks


def sample_patches(
    stacks: Sequence[np.ndarray], rng: np.random.Generator, batch: int, size: int
) -> torch.Tensor:
    """A batch of random source pairs: random stack, two of its sources in random order, a
    random crop, flip and 90° rotation. Returns (batch, 2, size, size) float32."""
    import torch

    patches = np.empty((batch, 2, size, size), np.float32)
    usable = [s for s in stacks if min(s.shape[1:]) >= size]
    for b in range(batch):
        stack = usable[int(rng.integers(len(usable)))]
        pair = rng.choice(stack.shape[0], size=2, replace=False)
        top = int(rng.integers(stack.shape[1] - size + 1))
        left = int(rng.integers(stack.shape[2] - size + 1))
        patch = stack[pair, top : top + size, left : left + size]
        if rng.random() < 0.5:
            patch = patch[:, :, ::-1]
        patches[b] = np.rot90(patch, int(rng.integers(4)), axes=(1, 2))
    return torch.from_numpy(patches)


# The 8 neighbours of a pixel, each weighing 1/8 (eq. (4)'s replacement draw).
_NEIGHBOURS = ((1.0, 1.0, 1.0), (1.0, 0.0, 1.0), (1.0, 1.0, 1.0))


def blind_spot(
    masks: torch.Tensor, keep: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """UDPNet eq. (4): keep each pixel with probability ``keep``; replace the others by a
    Bernoulli draw with the share of ones among its 8 neighbours.

    Shape: masks (B, K, H, W) -> (perturbed masks, kept B), both (B, K, H, W).
    """
    import torch
    from torch.nn import functional as F

    batch, count, height, width = masks.shape
    # Drawn on the CPU (the step's generator lives there), so runs agree across devices.
    kept = (torch.rand(masks.shape, generator=generator) < keep).to(masks)
    flat = F.pad(masks.reshape(batch * count, 1, height, width), (1, 1, 1, 1), mode="replicate")
    share = F.conv2d(
        flat, (torch.tensor(_NEIGHBOURS).view(1, 1, 3, 3) / 8.0).to(masks.dtype)
    ).reshape(masks.shape)
    replacement = (torch.rand(masks.shape, generator=generator).to(masks.device) < share).to(masks)
    return kept * masks + (1 - kept) * replacement, kept


def udpnet_loss(
    model: UDPNet, sources: torch.Tensor, recipe: UDPNetRecipe, generator: torch.Generator
) -> tuple[torch.Tensor, dict]:
    """L_total of eq. (16) for a batch of sources (B, K, H, W); terms are per-pixel means."""
    from ..models.udpnet import compose, initial_masks

    initial = initial_masks(sources, model.initial_operator)  # eq. (3) or the Laplacian variant
    if recipe.blind_spot:
        perturbed, kept = blind_spot(initial, recipe.keep, generator)
        refined = model.predictor(perturbed)
        reconstruction = (
            (((1 - kept) * (refined - initial)) ** 2).mean(dim=(0, 2, 3)).sum()
        )  # eq. (5)
        complementary = ((refined.sum(dim=1) - 1) ** 2).mean()
        loss_f = reconstruction + recipe.alpha * complementary
    else:  # "w/o BS": plain self-reconstruction
        loss_f = ((model.predictor(initial) - initial) ** 2).mean(dim=(0, 2, 3)).sum()
    logs = {"L_F": float(loss_f.detach())}
    if model.fuser is None:  # "w/o G"
        return loss_f, logs
    predicted = model.predictor(initial)  # M^F, the refined unperturbed masks
    image, stages = model.fuser(sources)
    loss_g = sum(
        2.0 ** (t + 1) * ((m - predicted.detach()) ** 2).mean() for t, m in enumerate(stages)
    )  # eq. (13)
    loss_fusion = (compose(predicted, sources) - image).abs().mean()  # eq. (15)
    total = loss_f + recipe.beta * loss_g + recipe.gamma * loss_fusion  # eq. (16)
    logs.update({"L_G": float(loss_g.detach()), "L_fusion": float(loss_fusion.detach())})
    return total, logs


def train_udpnet(
    data: Sequence[str | os.PathLike],
    checkpoint: str | os.PathLike,
    *,
    recipe: UDPNetRecipe = UDP_NET_RECIPES["mfif"],
    seed: int = 0,
    checkpoint_every: int = 200,
    validate: bool | Sequence[str | os.PathLike] = False,
    validate_every: int = 500,
    device: str | None = None,
    progress: bool = True,
) -> tuple[UDPNet, object, dict]:
    """Train UDPNet for ``recipe.steps`` on the unlabelled stacks under ``data``; resumable
    from ``checkpoint``.

    Parameters
    ----------
    validate : bool or sequence of path-like
        Folders of scenes with ground truth, scored every ``validate_every`` steps by the
        shipped inference (`UDPNetFuser`); UDPNet has no validation set of its own, so True
        alone validates nothing.

    Returns
    -------
    model, history, record
        ``record`` describes the data for the manifest.
    """
    import torch

    from ..models.udpnet import UDPNet

    stacks = load_unlabelled_stacks(data)
    largest = max(min(stack.shape[1:]) for stack in stacks)
    if recipe.patch > largest:
        raise OptionError(
            f"The patch side {recipe.patch} is larger than every training stack (the largest "
            f"fits {largest} pixels); use a smaller patch."
        )
    torch.manual_seed(seed)
    model = UDPNet(
        use_fuser=recipe.use_fuser,
        predictor_levels=recipe.predictor_levels,
        fuser_levels=recipe.fuser_levels,
        fuser_width=recipe.fuser_width,
        initial_operator=recipe.initial_masks,
    )

    def loss_of_step(net, numpy_generator, torch_generator):
        batch = sample_patches(stacks, numpy_generator, recipe.batch_size, recipe.patch)
        batch = batch.to(next(net.parameters()).device)
        return udpnet_loss(net, batch, recipe, torch_generator)

    check = None
    if validate and not isinstance(validate, bool):
        from ..methods.udpnet import UDPNetFuser

        check = scenes_validation(UDPNetFuser, ground_truth_cases(validate, limit=8))
    config = FitConfig.for_recipe(
        recipe,
        checkpoint,
        seed=seed,
        checkpoint_every=checkpoint_every,
        validate_every=validate_every,
        device=device,
    )
    settings = recipe_settings(recipe)
    for name, default in _ADDED_LATER.items():  # keeps checkpoints of earlier versions resumable
        if settings[name] == default:
            del settings[name]
    metadata = {"recipe": settings, "seed": seed, "data": sorted(str(Path(d)) for d in data)}
    history = fit(
        model,
        loss_of_step,
        Schedule(recipe.learning_rate),
        config,
        validate=check,
        metadata=metadata,
        progress=progress,
    )
    counts = {}
    for scene in find_scenes(data)[0]:
        counts[scene.dataset] = counts.get(scene.dataset, 0) + 1
    record = {
        "folders": [str(Path(d)) for d in data],
        "scenes": counts,
        "use": "sources only (ground truths are never read), as luminance; random patch pairs "
        "with flips and 90-degree rotations",
    }
    if check is not None:
        record["validation"] = {
            "set": ", ".join(map(str, validate)) + " (first 8 scenes with a ground truth)",
            "metric": "PSNR (dB, mfif.metrics.psnr) of the shipped inference (UDPNetFuser)",
        }
    return model, history, record


register_trainer(
    Trainer(
        name="udpnet",
        summary="UDPNet on unlabelled stacks (no ground truth is read)",
        description="Train UDPNet (Quan et al.) on random patch pairs from the stacks under "
        "--data; resumes from --checkpoint when it exists.",
        recipes=UDP_NET_RECIPES,
        default_recipe="mfif",
        data_help="folders of stacks (ROOT/<scene>/A, B, ... or one level deeper)",
        train=train_udpnet,
        architecture="udpnet",
        methods=("udpnet", "udpnet-paper"),
        licence="MIT (mfif). Learned from the real stacks of datasets/real (Lytro; classic "
        "grey pairs; SESF colour pairs, LGPL-2.1; MFIF benchmark inputs): research use.",
    )
)
