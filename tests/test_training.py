"""The shared training plumbing: schedule, device, recipe flags, manifest entries."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import mfif
import mfif.methods
from mfif.cli import main
from mfif.devices import select_device
from mfif.errors import OptionError
from mfif.training.fit import Schedule
from mfif.training.recipes import trainers
from mfif.weights import PretrainedConfig, Score, pretrained_config

# Slow: trains networks from the command line; `pytest -m 'not slow'` leaves it out, CI runs it.
pytestmark = pytest.mark.slow


def test_schedule_divides_the_rate_at_fixed_steps() -> None:
    schedule = Schedule(1e-3, decay_every=100, decay_factor=10.0)
    assert schedule.rate_at(0) == schedule.rate_at(99) == pytest.approx(1e-3)
    assert schedule.rate_at(100) == pytest.approx(1e-4)
    assert schedule.rate_at(250) == pytest.approx(1e-5)
    assert Schedule(5e-4).rate_at(10**6) == pytest.approx(5e-4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_refused() -> None:
    assert select_device(None) == "cpu"
    with pytest.raises(OptionError, match="no CUDA"):
        select_device("cuda")


@pytest.mark.parametrize("network", sorted(trainers()))
def test_every_recipe_field_is_a_flag(network: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", network, "--help"])
    text = capsys.readouterr().out
    recipe = next(iter(trainers()[network].recipes.values()))
    for setting in dataclasses.fields(recipe):
        assert "--" + setting.name.replace("_", "-") in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tag", "x"], "give --export"),
        (["--export", "w.pt", "--score", "s"], "give --tag"),
        (["--validate", "v", "--no-validate"], "contradict"),
        (["--export", "w.pt", "--tag", "t", "--score", "."], "No scene folders"),
    ],
)
def test_export_flags_that_do_not_fit_together(extra, message, tmp_path, capsys) -> None:
    status = main(
        [
            "train",
            "ufa-fuse",
            "--data",
            str(tmp_path),
            "--checkpoint",
            str(tmp_path / "c.ckpt"),
            *extra,
        ]
    )
    assert status == 2
    assert message in capsys.readouterr().err


def test_shipped_configs_are_typed_and_score_named_sets() -> None:
    for name in ("udpnet.mfif", "udpnet.mfif-narrow", "udpnet.paper"):
        config = pretrained_config(name)
        assert isinstance(config, PretrainedConfig) and config.tag == name.split(".")[1]
        assert config.scores and all(isinstance(score, Score) for score in config.scores)
        assert len({score.set for score in config.scores}) == len(config.scores)
        assert config.command.startswith("mfif train udpnet ") and "--tag" in config.command


def test_methods_lists_parameters_or_says_untrained(capsys) -> None:
    assert main(["methods"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "171,228 parameters" in lines["udpnet"]
    for name in mfif.list_methods():  # a shipped method names its weights' size, no other
        shipped = mfif.methods.pretrained_name(name) is not None
        assert ("parameters" in lines[name]) == shipped, lines[name]
        assert "not trained yet" not in lines[name]
