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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..data.focus_stacks import MASK_SETS, SOURCE_WEIGHTS, StackSampler
from ..data.natural import natural_items
from .fit import Schedule
from .natural_runs import fit_on_natural, one_data_folder
from .recipes import NATURAL_LICENCE, RealismFields, Trainer, recipe_field, register_trainer

if TYPE_CHECKING:  # torch is imported when training runs, not when its flags are built
    import torch

    from ..models.msa_siamese import MSASiamese

__all__ = [
    "MSASiameseRecipe",
    "MSA_SIAMESE_RECIPES",
    "build_model",
    "start_weights_into",
    "schedule_of",
    "sampler_of",
    "decision_loss",
    "validation_pairs",
    "train_msa_siamese",
]


# 2,900 VOC2012 images in batches of 8 (MSA-Siamese section 4.1.1): one epoch is 363 steps.
_MSA_EPOCH = 363


@dataclass(frozen=True)
class MSASiameseRecipe(RealismFields):
    """Settings of an MSA-Siamese training run. The defaults are the paper's (section 4.1.3)."""

    width: int = recipe_field(32, "channels of the half-resolution features", low=4, high=256)
    gcb_width: int = recipe_field(
        8, "channels of the GCB's hidden layers (0: without GCB)", low=0, high=256
    )
    dca: bool = recipe_field(True, "the decoder's DCA blocks (section 3.2)")
    siamese: bool = recipe_field(True, "one encoder shared by both sources (off: one each)")
    dfeb: bool = recipe_field(True, "the encoder's DFEB (section 3.4)")
    blurs: str = recipe_field(
        "gaussian",
        "blurs of the mask-based stacks: the paper's Gaussian, or Gaussian, mean filter and disk",
        choices=("gaussian", "mixed"),
    )
    material: str = recipe_field(
        "masks",
        "what stacks are drawn from: the paper's masked images (PASCAL-S, DAVIS, BSDS500 "
        "with random masks), or those plus Middlebury depth renders",
        choices=("masks", "masks+depth"),
    )
    patch: int = recipe_field(256, "side of the training crops, pixels", low=32, high=1024)
    batch_size: int = recipe_field(8, "stacks per step", low=1, high=4096)
    learning_rate: float = recipe_field(
        5e-4, "Adam's starting learning rate", low=0.0, high=1.0, low_open=True
    )
    decay_every: int = recipe_field(
        2 * _MSA_EPOCH, "steps between multiplications of the rate by decay (0: never)", low=0
    )
    decay: float = recipe_field(0.88, "factor of each decay", low=0.0, high=1.0, low_open=True)
    steps: int = recipe_field(200 * _MSA_EPOCH, "optimiser steps of a full run", low=1)
    patience: int = recipe_field(
        6, "stop after this many validations without a better score (0: never)", low=0
    )
    grey_share: float = recipe_field(0.1, "share of grey stacks", low=0.0, high=1.0)
    start_from: str = recipe_field(
        "", "shipped weights (architecture.tag) to start from instead of a fresh draw",
        added_later=True,
    )  # fmt: skip


MSA_SIAMESE_RECIPES = {
    "paper": MSASiameseRecipe(),
    # Trains here on 2 CPU cores in about 3 hours (about 1.1 s per step): half-side crops,
    # the paper's rate and decay per 726 steps, and every blur kind and the depth renders,
    # since real and `mfif synth` stacks are not only Gaussian-blurred.
    "cpu": MSASiameseRecipe(
        blurs="mixed",
        material="masks+depth",
        patch=128,
        steps=9000,
    ),
    # The cpu weights fine-tuned on realistic stacks (noise, JPEG, alignment residue,
    # layered occlusion) at a quarter of the rate: about 40 minutes here.
    "cpu-realistic": MSASiameseRecipe(
        blurs="mixed",
        material="masks+depth",
        patch=128,
        learning_rate=1.25e-4,
        steps=2000,
        noise=4.0,
        jpeg=0.3,
        residue=0.5,
        layered=0.3,
        start_from="msa_siamese.cpu",
    ),
}


BAND = 0.02  # targets in (BAND, 1 - BAND) are the transition band, left out of the loss


def build_model(recipe: MSASiameseRecipe) -> MSASiamese:
    """A freshly initialised model of ``recipe`` (seed torch first for a repeatable draw), in
    channels-last layout: the CGA's group convolution trains about 30 times faster in it on
    a CPU."""
    import torch

    from ..models.msa_siamese import MSASiamese

    model = MSASiamese(
        recipe.width,
        dca=recipe.dca,
        siamese=recipe.siamese,
        dfeb=recipe.dfeb,
        gcb=recipe.gcb_width,
    )
    return model.to(memory_format=torch.channels_last)


def start_weights_into(model: MSASiamese, name: str) -> None:
    """Copy the shipped weights ``name`` (sha256-checked) into ``model``.

    Raises
    ------
    MfifError
        Unknown or damaged weights, or weights of another configuration.
    """
    from ..errors import MfifError
    from ..methods.network import load_weights
    from ..models.msa_siamese import MSASiamese
    from ..weights import weights_file

    path, _ = weights_file(name)
    start = load_weights(path, MSASiamese.from_state, "MSA-Siamese")
    if dict(start.config) != dict(model.config):
        raise MfifError(
            f"The weights {name} are of another configuration ({dict(start.config)}) than "
            f"the recipe's ({dict(model.config)})."
        )
    model.load_state_dict(start.state_dict())


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
        realism=recipe.realism(),
    )


def decision_loss(logits: torch.Tensor, shares: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the decision logits against the binarised shares, outside the
    transition band.

    Shapes: logits (B, 1, H, W); shares (B, 1, H, W) in [0, 1], the first source's share.
    """
    import torch

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
    import torch

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
    import torch

    data = one_data_folder(data, "MSA-Siamese")
    items = natural_items(data)
    sampler = sampler_of([item for item in items if item.split == "train"], recipe)
    torch.manual_seed(seed)
    model = build_model(recipe)
    if recipe.start_from:
        start_weights_into(model, recipe.start_from)

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


register_trainer(
    Trainer(
        name="msa-siamese",
        summary="MSA-Siamese on synthetic stacks with decision-map targets",
        description="Train MSA-Siamese (Zhai et al.) on pairs rendered from the sharp images "
        "of a datasets/natural folder (training split only), the masks as decision targets; "
        "resumes from --checkpoint when it exists.",
        recipes=MSA_SIAMESE_RECIPES,
        default_recipe="cpu",
        data_help="a datasets/natural folder (index.csv, pascal_s/, bsds500/, davis2016/, "
        "middlebury2006/)",
        train=train_msa_siamese,
        architecture="msa_siamese",
        methods=("msa-siamese",),
        licence=NATURAL_LICENCE,
    )
)
