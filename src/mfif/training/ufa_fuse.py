"""UFA-Fuse's training recipe: supervised regression of the all-in-focus image from synthetic
stacks with exact ground truth (UFA-Fuse sections III-A, III-C and IV-A).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..data.focus_stacks import StackSampler
from ..data.natural import natural_items
from .fit import Schedule
from .natural_runs import fit_on_natural, one_data_folder
from .recipes import NATURAL_LICENCE, RealismFields, Trainer, recipe_field, register_trainer

if TYPE_CHECKING:  # torch is imported when training runs, not when its flags are built
    import torch

    from ..models.ufa_fuse import UFAFuse

__all__ = [
    "UFAFuseRecipe",
    "UFA_FUSE_RECIPES",
    "build_model",
    "pass_through_start",
    "start_weights_into",
    "schedule_of",
    "ufa_fuse_loss",
    "validation_stacks",
    "train_ufa_fuse",
]


# 84,424 training images in batches of 8 (UFA-Fuse section IV-A): one epoch is 10,553 steps.
_UFA_EPOCH = 10_553


@dataclass(frozen=True)
class UFAFuseRecipe(RealismFields):
    """Settings of a UFA-Fuse training run. The defaults are the paper's (section IV-A)."""

    width: int = recipe_field(64, "channels of the hidden layers (Table II: 64)", low=4, high=256)
    channel_attention: bool = recipe_field(True, "the UFA module's channel attention (eqs. 7-8)")
    spatial_attention: bool = recipe_field(True, "the UFA module's spatial attention (eqs. 9-10)")
    reduction: str = recipe_field(
        "mean",
        "how the sources' attended features meet: mean (weighted by the attention product; "
        "any number, order-free), sum (the plain sum of the attended features) or concat "
        "(the paper's, two sources)",
        choices=("mean", "sum", "concat"),
    )
    patch: int = recipe_field(256, "side of the training crops, pixels", low=32, high=1024)
    batch_size: int = recipe_field(8, "stacks per step", low=1, high=4096)
    learning_rate: float = recipe_field(
        1e-4, "Adam's starting learning rate", low=0.0, high=1.0, low_open=True
    )
    decay_every: int = recipe_field(
        200 * _UFA_EPOCH, "steps between divisions of the learning rate by 10 (0: never)", low=0
    )
    steps: int = recipe_field(300 * _UFA_EPOCH, "optimiser steps of a full run", low=1)
    l1_weight: float = recipe_field(0.2, "λ of eq. (1), the L1 term's weight", low=0.0, high=1.0)
    init: str = recipe_field(
        "default",
        "initial weights: PyTorch's default, or identity (each convolution starts as the "
        "identity plus a tenth of the default draw, so the network starts by passing the "
        "sources' colours through), or pass-through (three channels copy the colours "
        "exactly and the reconstruction starts as the sigmoid's inverse, the other channels "
        "PyTorch's draw)",
        choices=("default", "identity", "pass-through"),
    )
    three_source_share: float = recipe_field(
        0.0, "share of batches with three sources instead of two", low=0.0, high=1.0
    )
    grey_share: float = recipe_field(0.1, "share of grey stacks", low=0.0, high=1.0)
    residual: bool = recipe_field(
        False,
        "reconstruct a correction added to the sources weighted by the spatial attention "
        "(mfif's; off: the paper's network, which redraws the whole image)",
    )
    start_from: str = recipe_field(
        "",
        "shipped weights (architecture.tag) to start from instead of --init; with --residual "
        "from weights without it, the last reconstruction block starts at zero",
    )


# Trains here on 2 CPU cores in about 2 hours: narrower, half-side crops, a higher rate divided
# by 10 after each third of the run, a quarter of the batches with three sources. λ = 0.8: with
# the paper's λ = 0.2 the SSIM term, nearly blind to a colour offset, dominates, and after 1,200
# steps the results carried casts of 10 to 25 levels that moved from step to step (README). The
# pass-through start: the first shipped weights (identity start, plain sum) copied an image
# fused with itself only to about 40 dB after 6,000 steps; this start copies it to 53 dB before
# the first step.
_UFA_FUSE_CPU = UFAFuseRecipe(
    width=32,
    patch=128,
    learning_rate=5e-4,
    decay_every=1200,
    steps=3600,
    l1_weight=0.8,
    init="pass-through",
    reduction="mean",
    three_source_share=0.25,
)

# A second stage after "cpu" (about 25 minutes here): its weights gain the residual
# pass-through of the attended sources; the last block starts at zero, so the start is what
# the trained attention picks, and 600 steps teach the correction.
_UFA_FUSE_CPU_RESIDUAL = replace(
    _UFA_FUSE_CPU,
    learning_rate=2e-4,
    decay_every=400,
    steps=600,
    init="default",  # unused: the start is the shipped weights
    residual=True,
    start_from="ufa_fuse.cpu",
)

UFA_FUSE_RECIPES = {
    "paper": UFAFuseRecipe(),
    "cpu": _UFA_FUSE_CPU,
    "cpu-residual": _UFA_FUSE_CPU_RESIDUAL,
    # The cpu-residual weights fine-tuned on realistic stacks (noise, JPEG, alignment
    # residue, layered occlusion) at half its rate, like msa-siamese's cpu-realistic: 900
    # steps, 53 minutes here.
    "cpu-realistic": replace(
        _UFA_FUSE_CPU_RESIDUAL,
        learning_rate=1e-4,
        decay_every=0,
        steps=900,
        start_from="ufa_fuse.cpu-residual",
        noise=4.0,
        jpeg=0.3,
        residue=0.5,
        layered=0.3,
    ),
}


def build_model(recipe: UFAFuseRecipe) -> UFAFuse:
    """The model of ``recipe`` at its start: shipped weights (``start_from``) or a fresh draw
    (seed torch first for a repeatable draw).

    A residual model's last reconstruction block starts at zero, unless the start weights are
    residual already: its output starts as the attention-weighted sources.
    """
    import torch

    from ..models.ufa_fuse import UFAFuse

    model = UFAFuse(
        recipe.width,
        channel_attention=recipe.channel_attention,
        spatial_attention=recipe.spatial_attention,
        reduction=recipe.reduction,
        residual=recipe.residual,
    )
    if recipe.start_from:
        if start_weights_into(model, recipe.start_from):
            return model
    elif recipe.init == "identity":
        identity_start(model)
    elif recipe.init == "pass-through":
        pass_through_start(model)
    if recipe.residual:
        last = [m for m in model.reconstruction if isinstance(m, torch.nn.Conv2d)][-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
    return model


def start_weights_into(model: UFAFuse, name: str) -> bool:
    """Copy the shipped weights ``name`` (sha256-checked) into ``model``.

    Returns
    -------
    bool
        Whether the start weights are residual already (then nothing is left to initialise).

    Raises
    ------
    MfifError
        Unknown or damaged weights, weights of another architecture (width, attention,
        reduction), or residual weights for the paper's network (its sigmoid would turn their
        correction into an image).
    """
    from ..errors import MfifError
    from ..methods.network import load_weights
    from ..models.ufa_fuse import UFAFuse
    from ..weights import weights_file

    path, _ = weights_file(name)
    start = load_weights(path, UFAFuse.from_state, "UFA-Fuse")
    mine, theirs = model.config(), start.config()
    differing = [key for key in mine if key != "residual" and mine[key] != theirs[key]]
    if differing:
        raise MfifError(
            f"The weights {name!r} do not fit this recipe: "
            + ", ".join(f"{key} {theirs[key]} instead of {mine[key]}" for key in differing)
            + "."
        )
    if start.residual and not model.residual:
        raise MfifError(f"The weights {name!r} are residual; train them with --residual.")
    model.load_state_dict(start.state_dict(), strict=True)
    return start.residual


def identity_start(model: torch.nn.Module, keep: float = 0.1) -> None:
    """Start every 3x3 and 1x1 convolution as the identity on the channels it shares with its
    output, plus ``keep`` times its default random draw; biases start at zero.

    The sources are in [0, 1] and LeakyReLU passes positive values, so the untrained network
    already carries the sources' colours to its output; training then learns what to change
    rather than how to copy.
    """
    import torch

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


def _hinge_curve(count: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Knots and coefficients with which the reconstruction's last convolution turns a colour
    x and its ``count`` hinges into a logit whose sigmoid is x again.

    The hinges are L(L(L(t - x))) for the lower half of the knots and L(L(L(x - t))) for the
    upper half (L: LeakyReLU, three of them), each active only towards its end of [0, 1]. So
    x itself carries the logit's slope in the middle (about 4) and the steep ends are added
    only where they apply: a perturbation of a channel is not amplified where the sigmoid is
    steep. Knots and coefficients (x, hinges..., constant) are fitted together by least
    squares in the output. Also returns the fitted curve's largest error.
    """
    from scipy.optimize import least_squares

    from ..models.ufa_fuse import LEAKY_SLOPE

    grid = np.linspace(0.0, 1.0, 513)
    lower = count // 2

    def leaky(values):
        return np.where(values >= 0, values, LEAKY_SLOPE * values)

    def basis(knots):
        hinges = [leaky(leaky(leaky(knot - grid))) for knot in knots[:lower]]
        hinges += [leaky(leaky(leaky(grid - knot))) for knot in knots[lower:]]
        return np.stack([grid, *hinges, np.ones_like(grid)], axis=1)

    def sigmoid(values):
        return 1.0 / (1.0 + np.exp(-values))

    spread = np.concatenate([np.linspace(-3.5, -1.0, lower), np.linspace(1.0, 3.5, count - lower)])
    knots = sigmoid(spread)  # denser where the logit bends
    clipped = np.clip(grid, 1e-3, 1 - 1e-3)
    start = np.linalg.lstsq(basis(knots), np.log(clipped / (1 - clipped)), rcond=None)[0]
    fit = least_squares(
        lambda p: sigmoid(basis(p[:count]) @ p[count:]) - grid, np.concatenate([knots, start])
    )
    return fit.x[:count], fit.x[count:], float(np.abs(fit.fun).max())


def pass_through_start(model: UFAFuse) -> float:
    """Start the network as an exact pass-through of the attention-weighted sources.

    Three channels of every feature-extraction block and of the FFB copy the red, green and
    blue of their input (a centred one-hot kernel, no bias). In the reconstruction, the first
    block adds, for each colour, hinges ``x - t`` at knots spread over [0, 1]; the next two
    copy them; the last one combines them into the logit of x, so the final sigmoid returns x
    (within the returned error: at width 32, seven hinges per colour, at most 2.1 and on
    average 0.6 of an 8-bit level). Every other channel keeps PyTorch's default random draw:
    those channels learn the focus features that drive the attention, and the reconstruction
    learns to use them. Training then starts from "copy what the attention picks" with no
    colour cast and no blur, instead of learning to copy through twelve convolutions and a
    sigmoid (which the first shipped weights did only to about 40 dB on an image fused with
    itself).

    Returns
    -------
    float
        The largest deviation of the starting tone curve from the identity on [0, 1].
    """
    import torch

    width = model.width
    per_colour = min(8, width // 4)  # the colour itself and its hinges
    if per_colour < 1:
        raise ValueError(f"The pass-through start needs width >= 4; got {width}.")
    knots, coefficients, error = _hinge_curve(per_colour - 1)
    convolutions = [m for m in model.extraction if isinstance(m, torch.nn.Conv2d)]
    convolutions.append(model.feature_fusion)
    reconstruction = [m for m in model.reconstruction if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for conv in convolutions + reconstruction[1:3]:
            copied = 3 if conv in convolutions else 3 * per_colour
            centre = conv.kernel_size[0] // 2
            conv.weight[:copied] = 0.0
            conv.bias[:copied] = 0.0
            for channel in range(copied):
                conv.weight[channel, channel, centre, centre] = 1.0
        first, last = reconstruction[0], reconstruction[3]
        lower = (per_colour - 1) // 2  # hinges t - x, then x - t (see _hinge_curve)
        signs = torch.tensor([1.0] + [-1.0] * lower + [1.0] * (per_colour - 1 - lower))
        for colour in range(3):
            rows = slice(colour * per_colour, (colour + 1) * per_colour)
            first.weight[rows] = 0.0
            first.weight[rows, colour, 1, 1] = signs
            first.bias[rows] = -signs * torch.from_numpy(np.concatenate([[0.0], knots])).float()
        last.weight.zero_()
        for colour in range(3):
            rows = range(colour * per_colour, (colour + 1) * per_colour)
            for row, coefficient in zip(rows, coefficients[:-1], strict=True):
                last.weight[colour, row, 1, 1] = float(coefficient)
            last.bias[colour] = float(coefficients[-1])
    return float(error)


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
    import torch

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
    import torch

    data = one_data_folder(data, "UFA-Fuse")
    items = natural_items(data)
    sampler = StackSampler(
        [item for item in items if item.split == "train"], realism=recipe.realism()
    )
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


register_trainer(
    Trainer(
        name="ufa-fuse",
        summary="UFA-Fuse on synthetic stacks with ground truth",
        description="Train UFA-Fuse (Zang et al.) on stacks rendered from the sharp images of "
        "a datasets/natural folder (training split only); resumes from --checkpoint when it "
        "exists.",
        recipes=UFA_FUSE_RECIPES,
        default_recipe="cpu",
        data_help="a datasets/natural folder (index.csv, pascal_s/, bsds500/, davis2016/, "
        "middlebury2006/)",
        train=train_ufa_fuse,
        architecture="ufa_fuse",
        methods=("ufa-fuse", "ufa-fuse-paper"),
        licence=NATURAL_LICENCE,
    )
)
