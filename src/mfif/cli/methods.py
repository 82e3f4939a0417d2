"""``mfif methods``: the registered methods, their summaries and shipped weights."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(commands, common: argparse.ArgumentParser) -> None:
    """``mfif methods``."""
    methods = commands.add_parser(
        "methods",
        parents=[common],
        help="list the fusion methods",
        description="List the fusion methods.",
    )
    methods.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..methods import DEFAULT_METHOD, list_methods, pretrained_name, summary
    from ..weights import pretrained_config

    names = list_methods()
    width = max(len(name) for name in names)
    for name in names:
        marker = " (default)" if name == DEFAULT_METHOD else ""
        weights = pretrained_name(name)
        if weights is not None:
            config = pretrained_config(weights)
            marker += (
                f" [weights {weights}: {config.parameters:,} parameters]"
                if config is not None
                else f" [not trained yet: no weights {weights} shipped]"
            )
        print(f"{name:<{width}}  {summary(name)}{marker}")
    return 0
