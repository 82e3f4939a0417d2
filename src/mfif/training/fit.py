"""The one training core of mfif's networks: seeded batches, the recipe's optimiser and
schedule, CUDA when present, atomic checkpoints and bit-exact resumption.

Every random draw of step ``n`` comes from generators seeded with ``(seed, n)`` and the
learning rate of step ``n`` is a function of ``n`` alone, so a run that is interrupted and
resumed from its checkpoint ends with the same weights as one that was not.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..devices import select_device
from ..errors import OptionError
from ..outputs import replace_atomically

__all__ = [
    "Schedule",
    "FitConfig",
    "History",
    "fit",
    "step_generators",
    "recipe_settings",
]

if TYPE_CHECKING:  # torch is imported when training runs, not when its flags are built
    import torch

_logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam",)


@dataclass(frozen=True)
class Schedule:
    """Optimiser and learning-rate schedule of a recipe.

    Attributes
    ----------
    learning_rate : float
        Starting learning rate.
    optimizer : {"adam"}
        The optimiser (Adam with PyTorch's default betas).
    decay_every : int
        Divide the learning rate by ``decay_factor`` every this many steps (0: constant).
    decay_factor : float
        The divisor of each decay.
    """

    learning_rate: float
    optimizer: str = "adam"
    decay_every: int = 0
    decay_factor: float = 10.0

    def rate_at(self, step: int) -> float:
        """Learning rate of the 0-based optimiser step ``step``."""
        if self.decay_every <= 0:
            return self.learning_rate
        return self.learning_rate / self.decay_factor ** (step // self.decay_every)

    def build(self, parameters) -> torch.optim.Optimizer:
        import torch

        if self.optimizer != "adam":
            raise OptionError(f"optimizer must be one of {', '.join(OPTIMIZERS)}.")
        return torch.optim.Adam(parameters, lr=self.learning_rate)


@dataclass(frozen=True)
class FitConfig:
    """Settings of one run that do not change what is learned, plus its length and seed.

    Attributes
    ----------
    steps : int
        Optimiser steps in all (a resumed run continues to this total).
    seed : int
        Seed of every batch (the model's initialisation is seeded by the recipe).
    checkpoint : Path
        Where the checkpoint is written (atomically) and resumed from.
    checkpoint_every : int
        Steps between checkpoints (one is always written at the end).
    validate_every : int
        Steps between validation scores (0: only at the end).
    device : str, optional
        "cuda" or "cpu"; default CUDA when available.
    patience : int
        Early stopping: the run ends after this many validations in a row without a score
        above the best so far (larger scores are better); 0 never stops early.
    """

    steps: int
    seed: int
    checkpoint: Path
    checkpoint_every: int = 200
    validate_every: int = 500
    device: str | None = None
    patience: int = 0

    @classmethod
    def for_recipe(cls, recipe, checkpoint: str | os.PathLike, **settings) -> FitConfig:
        """A run of ``recipe.steps`` steps resumable from ``checkpoint``; ``settings`` are
        the other fields (seed, intervals, device, patience)."""
        return cls(steps=recipe.steps, checkpoint=Path(checkpoint), **settings)


@dataclass
class History:
    """What the core logged: (step, loss) pairs and (step, validation score) pairs."""

    losses: list[tuple[int, float]] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)
    start_step: int = 0  # the step this run resumed from (0 for a new run)
    stopped_early: int | None = None  # the step early stopping ended the run at

    def stale_validations(self) -> int:
        """Validations since the best score (0 when the last one is the best)."""
        scores = [score for _, score in self.validation]
        if not scores:
            return 0
        return len(scores) - 1 - max(range(len(scores)), key=lambda i: (scores[i], -i))


def recipe_settings(recipe) -> dict:
    """A recipe's settings as a checkpoint records them: every field but ``steps``, the run's
    length, which is not a setting of what is learned (a run may be extended), and but the
    fields added later that keep their default (`mfif.training.recipes.recipe_field`)."""
    settings = asdict(recipe)
    for item in fields(recipe):
        if item.metadata.get("added_later") and settings[item.name] == item.default:
            del settings[item.name]
    settings.pop("steps", None)
    return settings


def step_generators(seed: int, step: int) -> tuple[np.random.Generator, torch.Generator]:
    """The numpy and torch generators of one step, independent of what ran before. Both
    draw on the CPU, so a batch is the same on every device."""
    import torch

    numpy_generator = np.random.default_rng([seed, step])
    torch_generator = torch.Generator().manual_seed(int(numpy_generator.integers(2**62)))
    return numpy_generator, torch_generator


LossOfStep = Callable[
    ["torch.nn.Module", np.random.Generator, "torch.Generator"], tuple["torch.Tensor", dict]
]


def fit(
    model: torch.nn.Module,
    loss_of_step: LossOfStep,
    schedule: Schedule,
    config: FitConfig,
    *,
    validate: Callable[[torch.nn.Module], float] | None = None,
    metadata: dict | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` in place on ``config.device``; resume from ``config.checkpoint`` when it
    exists.

    Parameters
    ----------
    loss_of_step : callable
        ``(model, numpy_generator, torch_generator) -> (loss, logs)`` for one batch; it builds
        the batch on the CPU and moves it to the model's device.
    schedule : Schedule
        Optimiser and learning rate per step, from the recipe.
    validate : callable, optional
        ``model -> score`` (eval mode, no gradients), logged per validation interval; it
        should run the inference the method ships.
    metadata : dict, optional
        Stored in the checkpoint (the recipe's settings); a resumed run must match it.

    Returns
    -------
    History
        The model ends on the CPU, in eval mode.
    """
    import torch

    from ..progress import progress_bar

    device = select_device(config.device)
    model.to(device)
    optimizer = schedule.build(model.parameters())
    history = History()
    start = 0
    if config.checkpoint.exists():
        start, history = _resume(config.checkpoint, model, optimizer, metadata)
    bar = progress_bar(
        total=config.steps, initial=start, label="train", unit="step", enabled=progress, leave=True
    )
    started = time.perf_counter()
    last = start if history.stopped_early is not None else config.steps
    for step in range(start, last):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = schedule.rate_at(step)
        numpy_generator, torch_generator = step_generators(config.seed, step)
        loss, _ = loss_of_step(model, numpy_generator, torch_generator)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"The loss became {value} at step {step}.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.losses.append((step + 1, value))
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        done = step + 1
        if validate and (
            done == config.steps or (config.validate_every and done % config.validate_every == 0)
        ):
            model.eval()
            with torch.no_grad():
                score = float(validate(model))
            history.validation.append((done, score))
            _logger.info("step %d: validation %.4f", done, score)
            if config.patience and history.stale_validations() >= config.patience:
                history.stopped_early = done
                _logger.info("step %d: no better validation in %d, stopped", done, config.patience)
        if done % config.checkpoint_every == 0 or done == config.steps or history.stopped_early:
            _save(config.checkpoint, model, optimizer, done, history, metadata)
        if history.stopped_early:
            break
    bar.close()
    ran = (history.losses[-1][0] if history.losses else start) - start
    _logger.info("%d steps in %.0f s", ran, time.perf_counter() - started)
    model.to("cpu").eval()
    return history


def _resume(path: Path, model, optimizer, metadata: dict | None) -> tuple[int, History]:
    state = load_checkpoint(path)
    if state.get("metadata") != metadata:
        differing = ", ".join(_differences(state.get("metadata") or {}, metadata or {})) or "?"
        raise OptionError(
            f"The checkpoint {path} was made with other settings ({differing}); remove it or "
            "use another path."
        )
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        history = History(**{**state["history"], "start_step": start})
    except (KeyError, TypeError, ValueError, RuntimeError):
        raise OptionError(
            f"The checkpoint {path} does not fit this model; remove it or use another path."
        ) from None
    _logger.info("resumed from %s at step %d", path, start)
    return start, history


def _differences(saved: dict, asked: dict, prefix: str = "") -> list[str]:
    """Names of the settings that differ between two metadata dicts (nested ones dotted)."""
    names = []
    for key in sorted(set(saved) | set(asked), key=str):
        old, new = saved.get(key), asked.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            names += _differences(old, new, f"{prefix}{key}.")
        elif old != new:
            names.append(f"{prefix}{key}: {old!r} then, {new!r} now")
    return names


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's contents, loaded safely (tensors and plain data only: never code)."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable, foreign or unsafe file
        state = None
    if not isinstance(state, dict) or not {"model", "optimizer", "step"} <= set(state):
        raise OptionError(
            f"Cannot resume from {path}: it is not a training checkpoint of mfif (remove it or "
            "use another path)."
        )
    return state


def _save(path: Path, model, optimizer, step: int, history: History, metadata: dict | None) -> None:
    import torch

    state = {
        "model": {key: value.cpu() for key, value in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "step": step,
        "history": asdict(history),
        "metadata": metadata,
    }
    replace_atomically(path, lambda temporary: torch.save(state, temporary))
