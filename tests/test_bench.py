"""`mfif bench`: scenes, cache, ARank, failures, reports."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

import mfif
from mfif.bench import average_ranks, find_scenes, run_benchmark
from mfif.bench.ranks import metric_ranks
from mfif.bench.runner import BEST_SOURCE
from mfif.errors import MfifError

from conftest import complementary_stack

METRICS = ["PSNR", "SSIM", "Q_G", "NMI"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "toy"
    for k in range(2):
        sources, truth, _ = complementary_stack(2, color=True, seed=k)
        scene = root / f"scene{k}"
        scene.mkdir(parents=True)
        for name, image in zip(("A", "B", "GT"), (*sources, truth), strict=True):
            mfif.save_image(scene / f"{name}.png", image)
    triple = root / "triple"
    triple.mkdir()
    for name, image in zip("ABC", complementary_stack(3, color=True)[0], strict=True):
        mfif.save_image(triple / f"{name}.png", image)
    lonely = root / "lonely"
    lonely.mkdir()
    mfif.save_image(lonely / "A.png", complementary_stack(2, color=True)[0][0])
    odd = root / "odd-sizes"
    odd.mkdir()
    mfif.save_image(odd / "A.png", np.zeros((40, 40)))
    mfif.save_image(odd / "B.png", np.zeros((30, 40)))
    return tmp_path / "data"


def test_scenes_and_malformed_ones(data: Path) -> None:
    scenes, problems = find_scenes([data])
    assert sorted(s.name for s in scenes) == ["odd-sizes", "scene0", "scene1", "triple"]
    assert all(s.dataset == "toy" for s in scenes)
    assert problems == ["toy/lonely: needs sources A and B, found 1 source(s)"]
    same, _ = find_scenes([data / "toy"])
    assert [s.key for s in same] == [s.key for s in scenes]


def test_run_cache_and_failures(data: Path, tmp_path: Path, monkeypatch) -> None:
    scenes, _ = find_scenes([data])
    out = tmp_path / "out"
    records, skipped = run_benchmark(
        scenes, ["guided-decision", "sf"], out, metrics=METRICS, progress=False
    )
    assert len(skipped) == 1 and "odd-sizes" in skipped[0] and "same size" in skipped[0]
    # 2 methods x 3 scenes, and the best single source of the 2 scenes with a ground truth
    assert len(records) == 8 and all(r.status == "ok" for r in records)
    best = [r for r in records if r.method == BEST_SOURCE]
    assert {r.scene for r in best} == {"scene0", "scene1"} and best[0].seconds is None
    pair = next(r for r in records if r.scene == "scene0" and r.method == "sf")
    assert pair.metrics["PSNR"] > next(r for r in best if r.scene == "scene0").metrics["PSNR"]
    assert set(pair.metrics) == set(METRICS)
    triple = next(r for r in records if r.scene == "triple")
    # No ground truth; the fusion metrics, named, are the mean over the 3 pairs of sources.
    assert set(triple.metrics) == {"Q_G", "NMI"}

    # A rerun reads the cache: even a method that would now fail is not called.
    from mfif.methods.spatial_frequency import SpatialFrequencyFuser

    def broken(self, frames, **options):
        raise RuntimeError("should not run")

    monkeypatch.setattr(SpatialFrequencyFuser, "fuse_frames", broken)
    again, _ = run_benchmark(
        scenes, ["guided-decision", "sf"], out, metrics=METRICS, progress=False
    )
    assert [r.metrics for r in again] == [r.metrics for r in records]
    # Without the cache the failure is recorded and the run goes on.
    fresh, _ = run_benchmark(
        scenes, ["sf", "guided-decision"], out, metrics=METRICS, use_cache=False, progress=False
    )
    assert [r.status for r in fresh if r.method == "sf"] == ["failed"] * 3
    assert "should not run" in fresh[0].error
    assert all(r.status == "ok" for r in fresh if r.method == "guided-decision")


def test_new_metric_is_computed_from_the_cached_result(data: Path, tmp_path: Path) -> None:
    scenes = [s for s in find_scenes([data])[0] if s.name == "scene0"]
    out = tmp_path / "out"
    run_benchmark(scenes, ["gff"], out, metrics=["PSNR"], progress=False)
    records, _ = run_benchmark(scenes, ["gff"], out, metrics=["PSNR", "Q_M"], progress=False)
    assert set(records[0].metrics) == {"PSNR", "Q_M"}


def test_arank_on_a_hand_made_table() -> None:
    table = {
        "a": {"PSNR": 30.0, "Q_CV": 5.0, "Q_SF": -0.1},
        "b": {"PSNR": 32.0, "Q_CV": 5.0, "Q_SF": 0.05},
        "c": {"PSNR": 31.0, "Q_CV": 9.0},
    }
    directions = {"PSNR": "higher", "Q_CV": "lower", "Q_SF": "zero"}
    assert metric_ranks({m: t["PSNR"] for m, t in table.items()}, "higher") == {
        "a": 3,
        "b": 1,
        "c": 2,
    }
    ranks = average_ranks(table, directions)
    # PSNR: b 1, c 2, a 3; Q_CV: a and b tie for 1.5, c 3; Q_SF: b 1, a 2 (c has none).
    assert ranks == {
        "a": pytest.approx((3 + 1.5 + 2) / 3),
        "b": pytest.approx((1 + 1.5 + 1) / 3),
        "c": pytest.approx(2.5),
    }
    assert math.isnan(average_ranks({"x": {}}, directions)["x"])


def test_cli_outputs(data: Path, tmp_path: Path) -> None:
    from mfif.cli import main

    out = tmp_path / "report"
    assert (
        main(
            [
                "bench",
                str(data),
                "--methods",
                "guided-decision,gff",
                "--out",
                str(out),
                "--metrics",
                ",".join(METRICS),
            ]
        )
        == 0
    )
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8  # with the best single source of each scene with a ground truth
    assert list(rows[0])[:5] == ["dataset", "scene", "method", "status", "seconds"]
    assert set(METRICS) <= set(rows[0])
    summary = (out / "summary.md").read_text()
    assert "## toy (3 scenes)" in summary and "ARank" in summary and "**" in summary
    report = (out / "report.html").read_text()
    for name in ("guided-decision", "gff", "scene0", "scene1", "triple"):
        assert name in report
    assert "<svg" in report and "http" not in report.replace("http://www.w3.org/2000/svg", "")


def test_unknown_method_fails_before_running(data: Path, tmp_path: Path) -> None:
    scenes, _ = find_scenes([data])
    with pytest.raises(MfifError, match="Unknown method 'magic'"):
        run_benchmark(scenes, ["magic"], tmp_path / "out", progress=False)


def test_a_change_to_the_enlargement_recomputes_enlarged_results(monkeypatch) -> None:
    """The cache key of a result enlarged by back-projection (and of dfp at ×2) follows the
    enlargement's code; a result at the frames' size, or interpolated, does not."""
    import mfif
    from mfif.bench import runner
    from mfif.upscaling import UpscaledFuser, upscaled

    def versions() -> list[str]:
        return [
            runner.method_version(fuser)
            for fuser in (
                upscaled(mfif.create("gff"), 2, "lanczos2"),
                mfif.create("dfp", scale=2),
                mfif.create("gff"),
                mfif.create("dfp"),
                UpscaledFuser(mfif.create("gff"), 2, interpolation="bicubic"),
            )
        ]

    before = versions()
    monkeypatch.setattr(runner, "_ENLARGEMENT_VERSION", "changed")
    after = versions()
    assert [b != a for b, a in zip(before, after, strict=True)] == [True, True, False, False, False]
