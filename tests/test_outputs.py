"""`OutputSet`: every output of a command is written, or none; inputs are never written."""

from __future__ import annotations

import numpy as np
import pytest

from mfif.errors import OutputError
from mfif.outputs import OutputSet


def test_outputs_appear_together_when_the_set_commits(tmp_path):
    with OutputSet() as outputs:
        first = outputs.file(tmp_path / "a.png")
        folder = outputs.folder(tmp_path / "maps")
        inside = outputs.file(folder / "m.png")
        outputs.write_image(first, np.zeros((4, 4), np.float32))
        assert not first.exists()  # nothing in place before the commit
        outputs.write_image(inside, np.ones((4, 4), np.float32))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png", "m.png", "maps"]


def test_a_failure_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), OutputSet() as outputs:
        target = outputs.file(tmp_path / "a.png")
        outputs.folder(tmp_path / "maps")
        outputs.write_image(target, np.zeros((4, 4), np.float32))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_an_input_or_a_repeated_output_is_refused(tmp_path):
    source = tmp_path / "in.png"
    source.write_bytes(b"an input")
    with OutputSet(protected=[source]) as outputs:
        with pytest.raises(OutputError, match="Refusing to overwrite the input"):
            outputs.file(tmp_path / "." / "in.png")
        outputs.file(tmp_path / "out.png")
        with pytest.raises(OutputError, match="same path"):
            outputs.file(tmp_path / "out.png")
        outputs.abort()
    assert source.read_bytes() == b"an input"


def test_an_output_in_a_missing_folder_is_refused_before_any_work(tmp_path):
    with OutputSet() as outputs, pytest.raises(OutputError, match="does not exist"):
        outputs.file(tmp_path / "missing" / "out.png")
