"""The run around a network trained on stacks rendered from ``datasets/natural``: one data
folder, validation on the validation split (or on given scenes) with the shipped inference,
the checkpoint's metadata and the manifest's record of the data."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ..data.focus_stacks import StackSampler
from ..data.natural import NaturalItem, split_items
from ..errors import OptionError
from .fit import FitConfig, History, LossOfStep, Schedule, fit, recipe_settings
from .validation import ground_truth_cases, scenes_validation

__all__ = ["one_data_folder", "natural_fit_config", "fit_on_natural"]


def one_data_folder(data: str | os.PathLike | Sequence[str | os.PathLike], network: str) -> Path:
    """The single ``datasets/natural`` folder of ``data`` (a path or a one-item sequence).

    Raises
    ------
    OptionError
        Several folders were given.
    """
    if not isinstance(data, str | os.PathLike):
        if len(data) != 1:
            raise OptionError(f"{network} trains on one datasets/natural folder; give one --data.")
        data = data[0]
    return Path(data)


def natural_fit_config(
    recipe,
    data: Path,
    *,
    checkpoint: str | os.PathLike,
    seed: int,
    checkpoint_every: int,
    validate_every: int,
    device: str | None,
    patience: int = 0,
) -> tuple[FitConfig, dict]:
    """The `FitConfig` of a run on ``data`` (a ``datasets/natural`` folder) and the metadata
    its checkpoint records (the recipe's settings, the seed, the folder)."""
    config = FitConfig.for_recipe(
        recipe,
        checkpoint,
        seed=seed,
        checkpoint_every=checkpoint_every,
        validate_every=validate_every,
        device=device,
        patience=patience,
    )
    return config, {"recipe": recipe_settings(recipe), "seed": seed, "data": str(data)}


def fit_on_natural(
    model,
    loss_of_step: LossOfStep,
    schedule: Schedule,
    recipe,
    *,
    data: Path,
    items: Sequence[NaturalItem],
    sampler: StackSampler,
    method: Callable[[], type],
    own_validation: Callable[[list[NaturalItem]], list],
    checkpoint: str | os.PathLike,
    seed: int,
    checkpoint_every: int,
    validate: bool | Sequence[str | os.PathLike],
    validate_every: int,
    device: str | None,
    progress: bool,
    patience: int = 0,
) -> tuple[History, dict]:
    """Fit ``model`` for ``recipe.steps``, resumable from ``checkpoint``.

    Parameters
    ----------
    method : callable
        Returns the network's Fuser class (imported late: it may import torch-only code);
        validation runs it around the model being trained.
    own_validation : callable
        ``validation-split items -> cases``: the network's own validation set, used when
        ``validate`` is True; folders of scenes with a ground truth replace it.
    patience : int
        Early stopping after this many validations without progress (0: never).

    Returns
    -------
    history, record
        ``record`` holds the split and the sampler's description for the manifest.
    """
    check = None
    if validate:
        if isinstance(validate, bool):
            cases = own_validation([item for item in items if item.split == "validation"])
        else:
            cases = ground_truth_cases(validate)
        check = scenes_validation(method(), cases)
    config, metadata = natural_fit_config(
        recipe,
        data,
        checkpoint=checkpoint,
        seed=seed,
        checkpoint_every=checkpoint_every,
        validate_every=validate_every,
        device=device,
        patience=patience if check else 0,
    )
    history = fit(
        model, loss_of_step, schedule, config, validate=check, metadata=metadata, progress=progress
    )
    return history, {"split": split_items(items), "sampler": sampler.description()}
