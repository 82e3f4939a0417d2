"""``mfif methods [NAME ...]``: the registered methods, their summaries and shipped weights;
with names, each one's options (allowed values, default, description)."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(commands, common: argparse.ArgumentParser) -> None:
    """``mfif methods``."""
    methods = commands.add_parser(
        "methods",
        parents=[common],
        help="list the fusion methods, or one method's options",
        description="List the fusion methods; with method names, describe each one's options "
        "(given to 'mfif fuse' as --option NAME=VALUE).",
    )
    methods.add_argument("names", nargs="*", metavar="METHOD", help="methods to describe")
    methods.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..methods import list_methods, method_class

    if args.names:
        names = [method_class(name).name for name in args.names]  # unknown: one sentence
        for index, name in enumerate(names):
            print(("\n" if index else "") + _described(name))
        return 0
    names = list_methods()
    width = max(len(name) for name in names)
    for name in names:
        print(f"{name:<{width}}  {_headline(name)}")
    return 0


def _headline(name: str) -> str:
    """The method's summary, marked as the default and with its shipped weights."""
    from ..methods import DEFAULT_METHOD, pretrained_name, summary
    from ..weights import pretrained_config

    marker = " (default)" if name == DEFAULT_METHOD else ""
    weights = pretrained_name(name)
    if weights is not None:
        config = pretrained_config(weights)
        marker += (
            f" [weights {weights}: {config.parameters:,} parameters]"
            if config is not None
            else f" [not trained yet: no weights {weights} shipped]"
        )
    return summary(name) + marker


def _described(name: str) -> str:
    """The method's headline and each option: NAME = DEFAULT, what it accepts, what it does."""
    import shutil
    import textwrap

    from ..methods.described import option_help

    options = option_help(name)
    lines = [f"{name}: {_headline(name)}"]
    if not options:
        return "\n".join([*lines, "  (no options)"])
    lines.append("options (mfif fuse -m " + name + " --option NAME=VALUE):")
    width = min(100, shutil.get_terminal_size().columns)
    for option in options:
        default = "the method's choice" if option.default is None else repr(option.default)
        lines.append(f"  {option.name} = {default}  ({option.allowed})")
        lines += textwrap.wrap(
            option.text, width, initial_indent="      ", subsequent_indent="      "
        )
    return "\n".join(lines)
