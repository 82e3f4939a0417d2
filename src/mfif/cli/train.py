"""``mfif train NETWORK``: a learned method's recipe, the shared training loop, the export of
its weights with their manifest entry."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import OptionError, OutputError
from ..options import Option

__all__ = ["add_parser", "run"]


def add_parser(commands, common: argparse.ArgumentParser, *, networks: bool = True) -> None:
    """``mfif train NETWORK``, one for every trainer (`mfif.training.recipes.trainers`);
    without ``networks``, only the command (for the other commands' parser)."""
    train = commands.add_parser(
        "train", help="train a learned method", description="Train a learned method on CPU or CUDA."
    )
    subcommands = train.add_subparsers(title="networks", metavar="NETWORK", required=True)
    if not networks:
        return
    from ..training.recipes import trainers

    for trainer in trainers().values():
        _add_trainer(subcommands, trainer, common)


def _add_trainer(networks, trainer, common: argparse.ArgumentParser) -> None:
    """``mfif train NETWORK``: the run's flags, then one flag per field of its recipe."""
    import dataclasses

    parser = networks.add_parser(
        trainer.name, parents=[common], help=trainer.summary, description=trainer.description
    )
    parser.add_argument("--data", nargs="+", required=True, metavar="DIR", help=trainer.data_help)
    parser.add_argument(
        "--checkpoint", required=True, metavar="PATH", help="checkpoint to write and resume"
    )
    parser.add_argument(
        "--recipe",
        choices=sorted(trainer.recipes),
        default=trainer.default_recipe,
        help=f"named settings; a flag below overrides one (default {trainer.default_recipe})",
    )
    parser.add_argument(
        "--seed", type=Option("int", low=0).argument_type(), default=0, help="seed of every draw"
    )
    parser.add_argument(
        "--validate",
        nargs="+",
        metavar="DIR",
        help="scenes with GT to validate on with the shipped inference (default: the "
        "network's own validation set, if it has one)",
    )
    parser.add_argument("--no-validate", action="store_true", help="skip validation")
    parser.add_argument(
        "--validate-every",
        type=Option("int", low=0).argument_type(),
        default=250,
        help="steps between validations",
    )
    parser.add_argument(
        "--checkpoint-every", type=Option("int", low=1).argument_type(), default=100
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: CUDA if present")
    parser.add_argument("--export", metavar="PATH", help="also write the bare weights here")
    parser.add_argument(
        "--tag",
        help=f"with --export: describe the weights as {trainer.architecture}.TAG in the "
        "MANIFEST.json beside them",
    )
    parser.add_argument(
        "--score",
        nargs="+",
        metavar="DIR",
        default=[],
        help="with --tag: sets of scenes with GT to score the exported weights on",
    )
    parser.add_argument("--note", default="", help="with --tag: a note for the manifest")
    recipe = parser.add_argument_group("recipe")
    for setting in dataclasses.fields(next(iter(trainer.recipes.values()))):
        _add_recipe_flag(recipe, setting)
    parser.set_defaults(run=run, trainer=trainer)


def _add_recipe_flag(group, setting) -> None:
    """A recipe field's flag, typed and ranged by its `mfif.options.Option`."""
    flag = "--" + setting.name.replace("_", "-")
    option, help_text = setting.metadata["option"], setting.metadata["help"]
    if option.kind == "bool":
        group.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
    else:
        choices = option.choices if option.kind == "str" else None
        group.add_argument(flag, type=option.argument_type(), choices=choices, help=help_text)


def run(args: argparse.Namespace) -> int:
    """Any registered network (`mfif.training.recipes.trainers`): recipe, training, optional
    export."""
    import dataclasses

    from ..outputs import OutputSet, same_file

    trainer = args.trainer
    base = trainer.recipes[args.recipe]
    changes = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(base)
        if getattr(args, f.name) is not None
    }
    recipe = dataclasses.replace(base, **changes)
    checkpoint = Path(args.checkpoint)
    _check_checkpoint_location(checkpoint)
    train = trainer.train
    if args.tag and not args.export:
        raise OptionError("--tag names exported weights; give --export PATH too.")
    if (args.score or args.note) and not args.tag:
        raise OptionError("--score and --note describe tagged weights; give --tag too.")
    if args.validate and args.no_validate:
        raise OptionError("--validate and --no-validate contradict each other; give one.")
    validate = args.validate or not args.no_validate
    from ..data.scenes import find_scenes

    for root in args.score:  # checked now, not after hours of training
        if not any(scene.ground_truth for scene in find_scenes([root])[0]):
            raise OptionError(f"--score {root} holds no scene with a ground truth (GT image).")
    with OutputSet() as outputs:  # the export is reserved now, written after training
        if args.export and same_file(args.export, checkpoint):
            raise OutputError("--export and --checkpoint must be different files.")
        export = outputs.file(args.export, image=False) if args.export else None
        manifest = None
        if args.tag:
            from ..weights import MANIFEST_NAME

            manifest = outputs.file(Path(args.export).parent / MANIFEST_NAME, image=False)
        model, history, record = train(
            args.data,
            checkpoint,
            recipe=recipe,
            seed=args.seed,
            checkpoint_every=args.checkpoint_every,
            validate=validate,
            validate_every=args.validate_every,
            device=args.device,
        )
        if history.start_step >= recipe.steps and export is None:
            raise OptionError(
                f"The checkpoint {checkpoint} is already at step {history.start_step}, so there "
                f"is nothing to train up to {recipe.steps} steps; ask for more (--steps) or "
                "--export its weights."
            )
        for step, score in history.validation:
            print(f"step {step}: validation PSNR {score:.3f} dB")
        if export is not None:
            from ..training.export import manifest_entry, weights_bytes

            weights = weights_bytes(model)
            outputs.write_bytes(export, weights)
            if manifest is not None:
                entry = manifest_entry(args, trainer, recipe, model, history, record, weights)
                outputs.write_bytes(manifest, entry)
    if export is not None:
        print(f"wrote {export}" + (f" and its entry in {manifest}" if manifest else ""))
    return 0


def _check_checkpoint_location(checkpoint: Path) -> None:
    """The checkpoint is written (and replaced) during training: check its place first."""
    from ..outputs import OutputSet

    if checkpoint.is_dir():
        raise OutputError(f"The checkpoint {checkpoint} is a folder; give a file path.")
    if checkpoint.parent.exists():
        probe = OutputSet()
        try:
            probe.file(checkpoint, image=False)  # writable, name not too long
        finally:
            probe.abort()
    elif any(parent.exists() and not parent.is_dir() for parent in checkpoint.parents):
        raise OutputError(f"Cannot create the checkpoint {checkpoint}: a parent is a file.")
