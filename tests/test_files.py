"""The save stage: targets reserved before any work, every output of a run written together,
names made from the frames, the metadata's reference frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mfif
from mfif.errors import OutputError
from mfif.files import SaveTargets, file_stem, reference_file, save
from mfif.outputs import OutputSet
from mfif.pipeline import Pipeline

from conftest import complementary_stack


def test_a_depth_map_must_be_lossless_and_bit_depths_fit_the_format(tmp_path):
    with OutputSet() as outputs:
        with pytest.raises(OutputError, match="losslessly"):
            SaveTargets.reserve(outputs, tmp_path / "a.png", depth_index=tmp_path / "d.jpg")
        outputs.abort()
    with OutputSet() as outputs:
        with pytest.raises(OutputError, match="16"):
            SaveTargets.reserve(outputs, tmp_path / "a.jpg", bit_depth=16)
        outputs.abort()
    assert list(tmp_path.iterdir()) == []


def test_save_writes_every_asked_output(tmp_path):
    sources, _, _ = complementary_stack(3, color=True, height=40, width=50)
    paths = [mfif.save_image(tmp_path / f"frame-{k}.png", s) for k, s in enumerate(sources)]
    out = tmp_path / "out"
    out.mkdir()
    pipeline = Pipeline("guided-decision", align="none")
    with OutputSet(protected=paths) as outputs:
        targets = SaveTargets.reserve(
            outputs, out / "fused.png", depth_index=out / "depth.png", weights=out / "weights",
            aligned=out / "aligned", report=out / "report.json",
        )  # fmt: skip
        assert targets.wants_maps
        with pipeline.run(paths, maps=True) as result:
            written = save(result, outputs, targets, method="guided-decision")
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*.*"))
    assert names == [
        "aligned/aligned-00-frame-0.png", "aligned/aligned-01-frame-1.png",
        "aligned/aligned-02-frame-2.png", "depth.png", "fused.png", "report.json",
        "weights/weights-00-frame-0.png", "weights/weights-01-frame-1.png",
        "weights/weights-02-frame-2.png",
    ]  # fmt: skip
    assert written.names == ("frame-0.png", "frame-1.png", "frame-2.png")
    assert written.reference == paths[1]  # the middle frame's metadata, nothing aligned
    depth = mfif.read_image(out / "depth.png")[0]
    assert set(np.unique(np.rint(depth * 255)).tolist()) <= {0.0, 1.0, 2.0}


def test_file_stems_and_the_reference_file():
    assert file_stem("b[1].png") == "b-1" and file_stem("a.tif[2]") == "a"
    paths = [Path("x/a.png"), Path("x/b.png"), Path("x/c.png")]
    names = ["a.png", "b.png", "c.png"]
    assert reference_file(paths, names, None, None) == Path("x/b.png")
    assert reference_file(paths, names, None, 0) == Path("x/a.png")
    assert reference_file([Path("s.tif")], ["s.tif[0]", "s.tif[1]"], None, None) == Path("s.tif")
