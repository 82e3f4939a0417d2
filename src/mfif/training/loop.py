"""The shared training loop: Adam, seeded batches, atomic checkpoints, exact resumption.

Every random draw of step ``n`` comes from generators seeded with ``(seed, n)``, so a run that
is interrupted and resumed from its checkpoint ends with the same weights as one that was not.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import OptionError

__all__ = ["LoopConfig", "run_training", "step_generators"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopConfig:
    """Settings of one training run.

    Attributes
    ----------
    steps : int
        Optimiser steps in all (a resumed run continues to this total).
    learning_rate : float
        Adam's learning rate.
    seed : int
        Seed of the model's initialisation and of every batch.
    checkpoint : Path
        Where the checkpoint is written (atomically) and resumed from.
    checkpoint_every : int
        Steps between checkpoints (one is always written at the end).
    validate_every : int
        Steps between validation scores (0: only at the end).
    """

    steps: int
    learning_rate: float
    seed: int
    checkpoint: Path
    checkpoint_every: int = 200
    validate_every: int = 500


@dataclass
class History:
    """What the loop logged: (step, loss) pairs and (step, validation score) pairs."""

    losses: list[tuple[int, float]] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)
    start_step: int = 0  # the step this run resumed from (0 for a new run)


def step_generators(seed: int, step: int) -> tuple[np.random.Generator, torch.Generator]:
    """The numpy and torch generators of one step, independent of what ran before."""
    numpy_generator = np.random.default_rng([seed, step])
    torch_generator = torch.Generator().manual_seed(int(numpy_generator.integers(2**62)))
    return numpy_generator, torch_generator


def run_training(
    model: torch.nn.Module,
    loss_of_step: Callable[
        [torch.nn.Module, np.random.Generator, torch.Generator], tuple[torch.Tensor, dict]
    ],
    config: LoopConfig,
    *,
    validate: Callable[[torch.nn.Module], float] | None = None,
    metadata: dict | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` in place; resume from ``config.checkpoint`` when it exists.

    Parameters
    ----------
    loss_of_step : callable
        ``(model, numpy_generator, torch_generator) -> (loss, logs)`` for one batch.
    validate : callable, optional
        ``model -> score`` (in eval mode, no gradients), logged per validation interval.
    metadata : dict, optional
        Stored in the checkpoint (the recipe's settings); a resumed run must match it.
    """
    from tqdm import tqdm

    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    history = History()
    start = 0
    if config.checkpoint.exists():
        state = _load_checkpoint(config.checkpoint)
        if state.get("metadata") != metadata:
            raise OptionError(
                f"The checkpoint {config.checkpoint} was made with other settings; remove it or "
                "use another path."
            )
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start = int(state["step"])
            history = History(**{**state["history"], "start_step": start})
        except (KeyError, TypeError, ValueError, RuntimeError):
            raise OptionError(
                f"The checkpoint {config.checkpoint} does not fit this model; remove it or use "
                "another path."
            ) from None
        _logger.info("resumed from %s at step %d", config.checkpoint, start)
    bar = tqdm(
        total=config.steps,
        initial=start,
        desc="train",
        unit="step",
        disable=None if progress else True,
    )
    started = time.perf_counter()
    for step in range(start, config.steps):
        model.train()
        numpy_generator, torch_generator = step_generators(config.seed, step)
        loss, logs = loss_of_step(model, numpy_generator, torch_generator)
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
        if done % config.checkpoint_every == 0 or done == config.steps:
            _save(config.checkpoint, model, optimizer, done, history, metadata)
    bar.close()
    _logger.info("%d steps in %.0f s", config.steps - start, time.perf_counter() - started)
    return history


def _load_checkpoint(path: Path) -> dict:
    """A checkpoint's contents, loaded safely (tensors and plain data only: never code)."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "history": asdict(history),
            "metadata": metadata,
        },
        temporary,
    )
    os.replace(temporary, path)
