"""The manifest entry that ``mfif train NETWORK --export FILE --tag TAG`` writes beside the
weights: a `PretrainedConfig` filled from the run itself (recipe, data, validation curve) and
scores measured here with the method that ships the weights."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

from ..weights import PretrainedConfig, Score, manifest_with
from .validation import score_sets

__all__ = ["weights_bytes", "manifest_entry", "shipping_method"]


def weights_bytes(model) -> bytes:
    """The bytes of a weights file of ``model``: its own ``state()`` (config and weights) when
    it has one, else its ``state_dict``, as `torch.save` writes them."""
    import torch

    buffer = io.BytesIO()
    torch.save(model.state() if hasattr(model, "state") else model.state_dict(), buffer)
    return buffer.getvalue()


def shipping_method(trainer, name: str) -> type:
    """The Fuser class whose shipped weights are ``name``, else the trainer's first method."""
    from ..methods import method_class

    classes = [method_class(method) for method in trainer.methods]
    return next((c for c in classes if c.pretrained == name), classes[0])


def _describe_set(root: Path) -> str:
    """What a scored set is, from the ``synth.json`` that ``mfif synth`` wrote, if any."""
    record = root / "synth.json"
    if not record.is_file():
        return "scenes with a ground truth"
    synth = json.loads(record.read_text())
    return f"mfif synth {synth.get('kind')} (seed {synth.get('seed')}, {synth.get('parameters')})"


def _command_line() -> str:
    """This command as typed, without ``--note TEXT`` (the note has a field of its own)."""
    words, skip = [], False
    for word in sys.argv[1:]:
        if skip or word == "--note":
            skip = not skip
            continue
        if word.startswith("--note="):
            continue
        words.append(shlex.quote(word))
    return "mfif " + " ".join(words)


def manifest_entry(
    args: argparse.Namespace,
    trainer,
    recipe,
    model,
    history,
    record: dict,
    weights: bytes,
) -> bytes:
    """The manifest beside ``args.export`` with this run's entry added or replaced."""
    name = f"{trainer.architecture}.{args.tag}"
    if trainer.methods:
        method = shipping_method(trainer, name)
        fuser = method.from_model(model)
        measured, parameters = score_sets(fuser, args.score), fuser.parameter_count
        used_by = f"method {method.name!r}"
    else:
        measured = trainer.score(model, args.score) if trainer.score else []
        parameters = sum(parameter.numel() for parameter in model.parameters())
        used_by = f"mfif's {trainer.name}"
    scores = [
        Score(
            set=entry["set"],
            description=_describe_set(Path(entry["set"])),
            scenes=entry["scenes"],
            metrics=entry["metrics"],
        )
        for entry in measured
    ]
    validation = dict(record.pop("validation", {}))
    validation["curve"] = [[int(step), round(score, 3)] for step, score in history.validation]
    config = PretrainedConfig(
        name=name,
        architecture=f"{type(model).__module__}.{type(model).__qualname__}",
        file=Path(args.export).name,
        sha256=hashlib.sha256(weights).hexdigest(),
        parameters=int(parameters),
        recipe={"name": args.recipe, **asdict(recipe)},
        command=_command_line(),
        data={**record, "seed": args.seed},
        validation=validation,
        scores=scores,
        licence=trainer.licence,
        trained_on=f"{recipe.steps} steps; exported {datetime.date.today().isoformat()} "
        f"for {used_by}",
        checkpoint=str(args.checkpoint),
        notes=args.note,
    )
    return manifest_with(Path(args.export).parent, config)
