"""MSA-Siamese's training: a decision map learned from synthetic pairs whose masks are the
targets (MSA-Siamese sections 4.1.1 and 4.1.3).

Loss: binary cross-entropy between the network's map and the mask, per pixel. Pixels of the
soft transition band (target strictly between 0.02 and 0.98) are left out of the mean: there
both sources are partly blurred, no binary decision is right, and the binarised map's edge
there is set by its surroundings. The same holds where a depth render has two equally sharp
sources (equal shares). The two sources are presented in a random order, so the map learns
"is the first input the sharper one" and not "is this the object".
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from ..data.focus_stacks import MASK_SETS, SOURCE_WEIGHTS, StackSampler
from ..data.natural import natural_items
from ..models.msa_siamese import MSASiamese
from .fit import Schedule
from .natural_runs import fit_on_natural, one_data_folder
from .recipes import MSA_SIAMESE_RECIPES, MSASiameseRecipe

__all__ = [
    "build_model",
    "schedule_of",
    "sampler_of",
    "decision_loss",
    "validation_pairs",
    "train_msa_siamese",
]

BAND = 0.02  # targets in (BAND, 1 - BAND) are the transition band, left out of the loss


def build_model(recipe: MSASiameseRecipe) -> MSASiamese:
    """A freshly initialised model of ``recipe`` (seed torch first for a repeatable draw), in
    channels-last layout: the CGA's group convolution trains about 30 times faster in it on
    a CPU."""
    model = MSASiamese(
        recipe.width,
        dca=recipe.dca,
        siamese=recipe.siamese,
        dfeb=recipe.dfeb,
        gcb=recipe.gcb_width,
    )
    return model.to(memory_format=torch.channels_last)


def schedule_of(recipe: MSASiameseRecipe) -> Schedule:
    """Adam from ``learning_rate``, multiplied by ``decay`` every ``decay_every`` steps."""
    return Schedule(
        recipe.learning_rate, decay_every=recipe.decay_every, decay_factor=1.0 / recipe.decay
    )


def sampler_of(items, recipe: MSASiameseRecipe) -> StackSampler:
    """The pair sampler of ``recipe`` over ``items`` (one split)."""
    return StackSampler(
        items,
        weights=MASK_SETS if recipe.material == "masks" else SOURCE_WEIGHTS,
        grey_probability=recipe.grey_share,
        kinds=("gaussian",) if recipe.blurs == "gaussian" else ("gaussian", "mean", "disk"),
    )


def decision_loss(logits: torch.Tensor, shares: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the decision logits against the binarised shares, outside the
    transition band.

    Shapes: logits (B, 1, H, W); shares (B, 1, H, W) in [0, 1], the first source's share.
    """
    known = ((shares <= BAND) | (shares >= 1.0 - BAND)).to(logits.dtype)
    target = (shares >= 0.5).to(logits.dtype)
    per_pixel = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, reduction="none"
    )
    return (per_pixel * known).sum() / known.sum().clamp_min(1.0)


def _batch(
    sampler: StackSampler, rng: np.random.Generator, recipe: MSASiameseRecipe
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(first, second) sources (B, 3, P, P) and the first one's share (B, 1, P, P)."""
    firsts, seconds, shares = [], [], []
    for _ in range(recipe.batch_size):
        sources, _, share = sampler.draw(rng, recipe.patch, 2, targets=True)
        order = (1, 0) if rng.random() < 0.5 else (0, 1)
        firsts.append(sources[order[0]])
        seconds.append(sources[order[1]])
        shares.append(share[order[0]])

    def tensor(arrays, channel_axis_last: bool = True) -> torch.Tensor:
        stacked = np.stack(arrays)
        stacked = stacked.transpose(0, 3, 1, 2) if channel_axis_last else stacked[:, None]
        return torch.from_numpy(np.ascontiguousarray(stacked)).contiguous(
            memory_format=torch.channels_last
        )

    return tensor(firsts), tensor(seconds), tensor(shares, channel_axis_last=False)


def validation_pairs(
    items, *, count: int = 16, size: int = 256, seed: int = 1234
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fixed set of validation pairs from every kind of material and blur: (sources (2, S, S,
    3), truth (S, S, 3)) float32."""
    sampler = StackSampler(items, grey_probability=0.0)
    rng = np.random.default_rng(seed)
    return [sampler.draw(rng, size, 2) for _ in range(count)]


def train_msa_siamese(
    data: str | os.PathLike | Sequence[str | os.PathLike],
    checkpoint: str | os.PathLike,
    *,
    recipe: MSASiameseRecipe = MSA_SIAMESE_RECIPES["cpu"],
    seed: int = 0,
    checkpoint_every: int = 100,
    validate: bool | Sequence[str | os.PathLike] = True,
    validate_every: int = 500,
    device: str | None = None,
    progress: bool = True,
) -> tuple[MSASiamese, object, dict]:
    """Train MSA-Siamese on pairs drawn from the training split of ``data`` (a
    ``datasets/natural`` folder); resumable from ``checkpoint``.

    Validation (the shipped inference's PSNR on fixed pairs from the validation split, or on
    the scenes of ``validate``) also drives the recipe's early stopping.

    Returns
    -------
    model, history, record
        ``record`` holds the split and the data description for the manifest.
    """
    data = one_data_folder(data, "MSA-Siamese")
    items = natural_items(data)
    sampler = sampler_of([item for item in items if item.split == "train"], recipe)
    torch.manual_seed(seed)
    model = build_model(recipe)

    def loss_of_step(net, numpy_generator, torch_generator):
        first, second, shares = _batch(sampler, numpy_generator, recipe)
        device_of_net = next(net.parameters()).device
        first, second, shares = (t.to(device_of_net) for t in (first, second, shares))
        logits = net.decide(net.encode(first, 0), net.encode(second, 1))
        return decision_loss(logits, shares), {}

    def method():
        from ..methods.msa_siamese import MSASiameseFuser

        return MSASiameseFuser

    history, record = fit_on_natural(
        model,
        loss_of_step,
        schedule_of(recipe),
        recipe,
        data=data,
        items=items,
        sampler=sampler,
        method=method,
        own_validation=validation_pairs,
        checkpoint=checkpoint,
        seed=seed,
        checkpoint_every=checkpoint_every,
        validate=validate,
        validate_every=validate_every,
        device=device,
        progress=progress,
        patience=recipe.patience,
    )
    return model, history, record
