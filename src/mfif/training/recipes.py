"""What ``mfif train NETWORK`` needs of a network: typed recipe fields and the registry of
trainers. No torch here, so the command line starts fast.

Each network's training module defines its recipe (a frozen dataclass of `recipe_field` s),
its named variants and its `Trainer`, registered with `register_trainer`. A recipe field's
``metadata`` gives its flag's ``help`` and its type and range, an
`mfif.options.Option` (``option``; numbers are ≥ 0 unless said otherwise). Booleans become
``--name/--no-name``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..options import Option

__all__ = [
    "recipe_field",
    "RealismFields",
    "Trainer",
    "register_trainer",
    "trainers",
    "NATURAL_LICENCE",
]


def recipe_field(default, help: str, *, added_later: bool = False, **limits):
    """A recipe field: its default, its flag's help, and an `Option` of the default's type
    with ``limits`` (``low``, ``high``, ``low_open``, ``choices``). A field ``added_later``
    than checkpoints already shipped is left out of a checkpoint's settings while it has its
    default (`mfif.training.fit.recipe_settings`), so that those checkpoints still resume."""
    if isinstance(default, bool):
        option = Option("bool")
    elif isinstance(default, (int, float)):
        kind = "int" if isinstance(default, int) else "float"
        option = Option(kind, **{"low": 0, **limits})
    else:
        option = Option("str", **limits) if "choices" in limits else Option("text")
    metadata = {"help": help, "option": option, "added_later": added_later}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class RealismFields:
    """Recipe fields for what real stacks add (`mfif.data.realism`), shared by the recipes
    of the supervised networks; all off by default (the papers' recipes). Their fields come
    first in a recipe that derives from this class."""

    noise: float = recipe_field(
        0.0, "largest camera noise, sigma at mid-grey in 8-bit levels", high=255.0,
        added_later=True,
    )  # fmt: skip
    jpeg: float = recipe_field(0.0, "share of JPEG stacks", high=1.0, added_later=True)
    residue: float = recipe_field(
        0.0, "largest alignment residue, pixels", high=8.0, added_later=True
    )
    layered: float = recipe_field(
        0.0, "share of mask stacks rendered with layered occlusion", high=1.0, added_later=True
    )

    def realism(self):
        """The `mfif.data.realism.Realism` of these fields."""
        from ..data.realism import Realism

        return Realism(self.noise, self.jpeg, self.residue, self.layered)


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
    train : callable
        The training function, ``train(data, checkpoint, *, recipe, seed, checkpoint_every,
        validate, validate_every, device) -> (model, history, record)``.
    architecture : str
        The manifest prefix of exported weights (``architecture.tag``).
    methods : tuple of str
        The methods that run these weights; the one whose ``pretrained`` is the exported
        name scores them, else the first. Empty for a network that is not a fusion method.
    licence : str
        Terms of weights trained on ``--data``'s usual sets.
    score : callable, optional
        ``(model, roots) -> [{"set", "scenes", "metrics"}]``: the export's scores of a network
        without methods (with methods, their fusion is scored).
    """

    name: str
    summary: str
    description: str
    recipes: dict
    default_recipe: str
    data_help: str
    train: Callable
    architecture: str
    methods: tuple[str, ...]
    licence: str
    score: Callable | None = None


NATURAL_LICENCE = (
    "MIT (mfif). Learned from PASCAL-S/PASCAL VOC (research use), BSDS500 (non-commercial "
    "research use), DAVIS 2016 and Middlebury 2006 images: research use."
)

_trainers: dict[str, Trainer] = {}


def register_trainer(trainer: Trainer) -> Trainer:
    """Register ``trainer`` as ``mfif train NAME`` (each network's training module registers
    its own)."""
    if trainer.name in _trainers:
        raise ValueError(f"A trainer named {trainer.name!r} is already registered.")
    _trainers[trainer.name] = trainer
    return trainer


def trainers() -> dict[str, Trainer]:
    """Every network's trainer, by name: the modules of `mfif.training` are imported (none
    imports torch until it trains), and each registers its own."""
    import importlib
    import pkgutil

    package = __name__.rpartition(".")[0]
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{module.name}")
    return dict(sorted(_trainers.items()))
