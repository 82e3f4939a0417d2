"""`mfif.methods.described`: every option of every method is described, with its default."""

from __future__ import annotations

import pytest

import mfif
from mfif.methods.described import _parameters, option_help


@pytest.mark.parametrize("method", mfif.list_methods())
def test_every_option_is_described_and_its_default_is_allowed(method: str) -> None:
    """The docstrings keep up with the options: an option added without its description, or a
    default its own `Option` refuses, fails here."""
    cls = mfif.methods.method_class(method)
    found = option_help(method)
    assert [option.name for option in found] == list(cls.options)
    for option in found:
        assert len(option.text) > 10, f"{method}'s option {option.name} is not described"
        if option.default is not None:
            assert cls.options[option.name].check(method, option.name, option.default) == (
                option.default
            )


def test_the_default_a_subclass_sets_is_shown() -> None:
    defaults = {option.name: option.default for option in option_help("udpnet-paper")}
    assert defaults["decision"] == "soft" and defaults["precision"] == "float32"
    defaults = {option.name: option.default for option in option_help("udpnet")}
    assert defaults["decision"] == "hard"


def test_parameters_section_parsing() -> None:
    docstring = """Summary.

Parameters
----------
width, depth : int
    Shared by two
    names.
flag : bool

Returns
-------
thing : int
    Not a parameter.
"""
    assert _parameters(docstring) == {
        "width": "Shared by two names.",
        "depth": "Shared by two names.",
        "flag": "",
    }
    assert _parameters("No sections at all.") == {}
