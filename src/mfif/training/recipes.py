"""Training recipes of mfif's networks: typed settings, named variants, and what
``mfif train NETWORK`` needs to build its flags. No torch here, so the command line starts fast.

A recipe field's ``metadata`` gives its flag's ``help`` and its type and range, an
`mfif.options.Option` (``option``; numbers are ≥ 0 unless said otherwise). Booleans become
``--name/--no-name``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..options import Option

__all__ = [
    "UDPNetRecipe",
    "UDP_NET_RECIPES",
    "UFAFuseRecipe",
    "UFA_FUSE_RECIPES",
    "MSASiameseRecipe",
    "MSA_SIAMESE_RECIPES",
    "Trainer",
    "TRAINERS",
]

# 84,424 training images in batches of 8 (UFA-Fuse section IV-A): one epoch is 10,553 steps.
_UFA_EPOCH = 10_553


def _setting(default, help: str, **limits):
    """A recipe field: its default, its flag's help, and an `Option` of the default's type
    with ``limits`` (``low``, ``high``, ``low_open``, ``choices``)."""
    if isinstance(default, bool):
        option = Option("bool")
    elif isinstance(default, (int, float)):
        kind = "int" if isinstance(default, int) else "float"
        option = Option(kind, **{"low": 0, **limits})
    else:
        option = Option("str", **limits) if "choices" in limits else Option("text")
    return field(default=default, metadata={"help": help, "option": option})


@dataclass(frozen=True)
class UDPNetRecipe:
    """Settings of a UDPNet training run (the paper's values where it gives them)."""

    patch: int = _setting(60, "side of the patch pairs (section IV-A: 60)", low=16, high=2048)
    batch_size: int = _setting(16, "patch pairs per step", low=1, high=4096)
    learning_rate: float = _setting(2e-4, "Adam's learning rate", low=0.0, high=1.0, low_open=True)
    alpha: float = _setting(0.4, "α of eq. (5)", low=0.0, high=100.0)
    beta: float = _setting(0.2, "β of eq. (16)", low=0.0, high=100.0)
    gamma: float = _setting(0.2, "γ of eq. (16)", low=0.0, high=100.0)
    keep: float = _setting(0.9, "Bernoulli p of the blind spot, eq. (4)", low=0.0, high=1.0)
    blind_spot: bool = _setting(True, "blind-spot masks (off: the 'w/o BS' ablation)")
    use_fuser: bool = _setting(True, "train G (off: the 'w/o G' ablation, F only)")
    predictor_levels: int = _setting(2, "encoder-decoder depth of F", low=1, high=4)
    fuser_levels: int = _setting(2, "encoder-decoder depth of G's estimators", low=1, high=4)
    fuser_width: int = _setting(12, "channels of G's estimators", low=1, high=256)
    initial_masks: str = _setting(
        "gradient",
        "focus operator of the initial masks: eq. (3)'s gradient or mfif's Laplacian",
        choices=("gradient", "laplacian"),
    )
    steps: int = _setting(3000, "optimiser steps of a full run", low=1)


UDP_NET_RECIPES = {
    "paper": UDPNetRecipe(),
    "mfif": UDPNetRecipe(initial_masks="laplacian", steps=4500),
}


@dataclass(frozen=True)
class UFAFuseRecipe:
    """Settings of a UFA-Fuse training run. The defaults are the paper's (section IV-A)."""

    width: int = _setting(64, "channels of the hidden layers (Table II: 64)", low=4, high=256)
    channel_attention: bool = _setting(True, "the UFA module's channel attention (eqs. 7-8)")
    spatial_attention: bool = _setting(True, "the UFA module's spatial attention (eqs. 9-10)")
    reduction: str = _setting(
        "mean",
        "how the sources' attended features meet: mean (weighted by the attention product; "
        "any number, order-free), sum (the plain sum of the attended features) or concat "
        "(the paper's, two sources)",
        choices=("mean", "sum", "concat"),
    )
    patch: int = _setting(256, "side of the training crops, pixels", low=32, high=1024)
    batch_size: int = _setting(8, "stacks per step", low=1, high=4096)
    learning_rate: float = _setting(
        1e-4, "Adam's starting learning rate", low=0.0, high=1.0, low_open=True
    )
    decay_every: int = _setting(
        200 * _UFA_EPOCH, "steps between divisions of the learning rate by 10 (0: never)", low=0
    )
    steps: int = _setting(300 * _UFA_EPOCH, "optimiser steps of a full run", low=1)
    l1_weight: float = _setting(0.2, "λ of eq. (1), the L1 term's weight", low=0.0, high=1.0)
    init: str = _setting(
        "default",
        "initial weights: PyTorch's default, or identity (each convolution starts as the "
        "identity plus a tenth of the default draw, so the network starts by passing the "
        "sources' colours through), or pass-through (three channels copy the colours "
        "exactly and the reconstruction starts as the sigmoid's inverse, the other channels "
        "PyTorch's draw)",
        choices=("default", "identity", "pass-through"),
    )
    three_source_share: float = _setting(
        0.0, "share of batches with three sources instead of two", low=0.0, high=1.0
    )
    grey_share: float = _setting(0.1, "share of grey stacks", low=0.0, high=1.0)
    residual: bool = _setting(
        False,
        "reconstruct a correction added to the sources weighted by the spatial attention "
        "(mfif's; off: the paper's network, which redraws the whole image)",
    )
    start_from: str = _setting(
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

UFA_FUSE_RECIPES = {
    "paper": UFAFuseRecipe(),
    "cpu": _UFA_FUSE_CPU,
    # A second stage after "cpu" (about 25 minutes here): its weights gain the residual
    # pass-through of the attended sources; the last block starts at zero, so the start is what
    # the trained attention picks, and 600 steps teach the correction.
    "cpu-residual": replace(
        _UFA_FUSE_CPU,
        learning_rate=2e-4,
        decay_every=400,
        steps=600,
        init="default",  # unused: the start is the shipped weights
        residual=True,
        start_from="ufa_fuse.cpu",
    ),
}


# 2,900 VOC2012 images in batches of 8 (MSA-Siamese section 4.1.1): one epoch is 363 steps.
_MSA_EPOCH = 363


@dataclass(frozen=True)
class MSASiameseRecipe:
    """Settings of an MSA-Siamese training run. The defaults are the paper's (section 4.1.3)."""

    width: int = _setting(32, "channels of the half-resolution features", low=4, high=256)
    gcb_width: int = _setting(
        8, "channels of the GCB's hidden layers (0: without GCB)", low=0, high=256
    )
    dca: bool = _setting(True, "the decoder's DCA blocks (section 3.2)")
    siamese: bool = _setting(True, "one encoder shared by both sources (off: one each)")
    dfeb: bool = _setting(True, "the encoder's DFEB (section 3.4)")
    blurs: str = _setting(
        "gaussian",
        "blurs of the mask-based stacks: the paper's Gaussian, or Gaussian, mean filter and disk",
        choices=("gaussian", "mixed"),
    )
    material: str = _setting(
        "masks",
        "what stacks are drawn from: the paper's masked images (PASCAL-S, DAVIS, BSDS500 "
        "with random masks), or those plus Middlebury depth renders",
        choices=("masks", "masks+depth"),
    )
    patch: int = _setting(256, "side of the training crops, pixels", low=32, high=1024)
    batch_size: int = _setting(8, "stacks per step", low=1, high=4096)
    learning_rate: float = _setting(
        5e-4, "Adam's starting learning rate", low=0.0, high=1.0, low_open=True
    )
    decay_every: int = _setting(
        2 * _MSA_EPOCH, "steps between multiplications of the rate by decay (0: never)", low=0
    )
    decay: float = _setting(0.88, "factor of each decay", low=0.0, high=1.0, low_open=True)
    steps: int = _setting(200 * _MSA_EPOCH, "optimiser steps of a full run", low=1)
    patience: int = _setting(
        6, "stop after this many validations without a better score (0: never)", low=0
    )
    grey_share: float = _setting(0.1, "share of grey stacks", low=0.0, high=1.0)


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
}


@dataclass(frozen=True)
class Trainer:
    """What ``mfif train NETWORK`` needs of a network.

    Attributes
    ----------
    name : str
        The subcommand.
    summary, description : str
        Its help line and description.
    recipes : dict
        Named recipes; ``default_recipe`` is used without ``--recipe``.
    default_recipe : str
    data_help : str
        What ``--data`` must be.
    train : str
        ``"module:function"`` of the training function (imported when run).
    architecture : str
        The manifest prefix of exported weights (``architecture.tag``).
    methods : tuple of str
        The methods that run these weights; the one whose ``pretrained`` is the exported
        name scores them, else the first.
    licence : str
        Terms of weights trained on ``--data``'s usual sets.
    """

    name: str
    summary: str
    description: str
    recipes: dict
    default_recipe: str
    data_help: str
    train: str
    architecture: str
    methods: tuple[str, ...]
    licence: str


_NATURAL_LICENCE = (
    "MIT (mfif). Learned from PASCAL-S/PASCAL VOC (research use), BSDS500 (non-commercial "
    "research use), DAVIS 2016 and Middlebury 2006 images: research use."
)

TRAINERS = {
    "udpnet": Trainer(
        name="udpnet",
        summary="UDPNet on unlabelled stacks (no ground truth is read)",
        description="Train UDPNet (Quan et al.) on random patch pairs from the stacks under "
        "--data; resumes from --checkpoint when it exists.",
        recipes=UDP_NET_RECIPES,
        default_recipe="mfif",
        data_help="folders of stacks (ROOT/<scene>/A, B, ... or one level deeper)",
        train="mfif.training.udpnet:train_udpnet",
        architecture="udpnet",
        methods=("udpnet", "udpnet-paper"),
        licence="MIT (mfif). Learned from the real stacks of datasets/real (Lytro; classic "
        "grey pairs; SESF colour pairs, LGPL-2.1; MFIF benchmark inputs): research use.",
    ),
    "ufa-fuse": Trainer(
        name="ufa-fuse",
        summary="UFA-Fuse on synthetic stacks with ground truth",
        description="Train UFA-Fuse (Zang et al.) on stacks rendered from the sharp images of "
        "a datasets/natural folder (training split only); resumes from --checkpoint when it "
        "exists.",
        recipes=UFA_FUSE_RECIPES,
        default_recipe="cpu",
        data_help="a datasets/natural folder (index.csv, pascal_s/, bsds500/, davis2016/, "
        "middlebury2006/)",
        train="mfif.training.ufa_fuse:train_ufa_fuse",
        architecture="ufa_fuse",
        methods=("ufa-fuse", "ufa-fuse-paper"),
        licence=_NATURAL_LICENCE,
    ),
    "msa-siamese": Trainer(
        name="msa-siamese",
        summary="MSA-Siamese on synthetic stacks with decision-map targets",
        description="Train MSA-Siamese (Zhai et al.) on pairs rendered from the sharp images "
        "of a datasets/natural folder (training split only), the masks as decision targets; "
        "resumes from --checkpoint when it exists.",
        recipes=MSA_SIAMESE_RECIPES,
        default_recipe="cpu",
        data_help="a datasets/natural folder (index.csv, pascal_s/, bsds500/, davis2016/, "
        "middlebury2006/)",
        train="mfif.training.msa_siamese:train_msa_siamese",
        architecture="msa_siamese",
        methods=("msa-siamese",),
        licence=_NATURAL_LICENCE,
    ),
}
