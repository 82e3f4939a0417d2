"""Any method's fusion returned larger (`mfif.upscaling`, ``--upscale``): sizes, weights that
still sum to 1, the same result from memory and from disk, the degradation model told, and the
options refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mfif
from mfif.metrics import psnr
from mfif.pipeline import Pipeline
from mfif.resample import downsample
from mfif.upscaling import UpscaledFuser

from conftest import complementary_stack


def _low_stack(degradation: str, count: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A generated stack made smaller by ``degradation`` (×2), and its full-size truth."""
    sources, truth, _ = complementary_stack(count, color=True, height=96, width=128, sigma=2.0)
    low = np.stack([np.clip(downsample(s, 2, degradation), 0, 1) for s in sources])
    return low, truth


@pytest.mark.parametrize("interpolation", ["back-projection", "learned", "bicubic", "lanczos"])
def test_image_and_weights_are_enlarged_and_the_weights_still_sum_to_one(
    interpolation: str,
) -> None:
    low, _ = _low_stack("lanczos2")
    streamed: dict[int, np.ndarray] = {}
    fuser = UpscaledFuser(mfif.create("guided-decision"), 2, interpolation)
    fusion = fuser.fuse_frames(
        mfif.frames.ArrayFrames(mfif.Stack(images=low)),
        on_weights=lambda k, weight: streamed.__setitem__(k, weight),
    )
    assert fusion.image.shape == (96, 128, 3) and fusion.image.dtype == np.float32
    assert 0 <= fusion.image.min() and fusion.image.max() <= 1
    assert fusion.weights.shape == (3, 96, 128) and fusion.weights.min() >= 0
    np.testing.assert_allclose(fusion.weights.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.stack([streamed[k] for k in range(3)]), fusion.weights)
    assert fuser.name == f"guided-decision+{interpolation}"


def test_the_model_told_beats_the_paper_model_and_interpolation() -> None:
    """Frames blurred by a lens before they were sampled: back-projection onto that model is
    closer to the truth than onto Lanczos-2, which is closer than Lanczos interpolation."""
    low, truth = _low_stack("gaussian:1.5")
    told = mfif.fuse(low, align="none", upscale=2, degradation="gaussian:1.5").image
    paper = mfif.fuse(low, align="none", upscale=2).image
    interpolated = UpscaledFuser(mfif.create("guided-decision"), 2, "lanczos").fuse(
        mfif.Stack(images=low)
    )
    assert psnr(told, truth) > psnr(paper, truth) + 1.0
    assert psnr(paper, truth) > psnr(interpolated.image, truth)


def test_from_disk_as_in_memory(tmp_path: Path) -> None:
    low, _ = _low_stack("box")
    paths = [mfif.save_image(tmp_path / f"{k}.png", frame) for k, frame in enumerate(low)]
    images = {}
    for storage in ("memory", "disk"):
        pipeline = Pipeline(storage=storage, align="none", upscale=2, degradation="box")
        with pipeline.run(paths) as result:
            images[storage] = result.fusion.image.copy()
    assert images["memory"].shape == (96, 128, 3)
    np.testing.assert_array_equal(images["memory"], images["disk"])


def test_a_method_that_super_resolves_by_itself_is_given_its_own_options() -> None:
    fuser = Pipeline("dfp", upscale=2, degradation="box").fuser
    assert (fuser.name, fuser.scale, fuser.degradation) == ("dfp", 2, "box")
    with pytest.raises(mfif.OptionError, match="not both"):
        Pipeline("dfp", {"scale": 2}, upscale=2)
    # The API's keywords name dfp's own options too.
    fuser = Pipeline("dfp", {"scale": 2}, degradation="gaussian:1.2").fuser
    assert (fuser.scale, fuser.degradation) == (2, "gaussian:1.2")
    with pytest.raises(mfif.OptionError, match="needs an upscaling factor"):
        Pipeline("dfp", degradation="box")
    with pytest.raises(mfif.OptionError, match="super-resolves by itself"):
        Pipeline(mfif.create("dfp"), upscale=2)
    # The enlargement is dfp's start (its option base).
    assert Pipeline("dfp", upscale=2, enlargement="learned").fuser.base == "learned"
    with pytest.raises(mfif.OptionError, match="not both"):
        Pipeline("dfp", {"base": "bicubic"}, upscale=2, enlargement="learned")
    with pytest.raises(mfif.OptionError, match="enlarges by 2"):
        Pipeline("dfp", upscale=3, enlargement="learned")


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"upscale": 0}, "integer of 1 or more"),
        ({"upscale": 2.5}, "integer of 1 or more"),
        ({"degradation": "box"}, "needs an upscaling factor of 2 or more"),
        ({"upscale": 2, "degradation": "gauss"}, "gaussian:SIGMA"),
        ({"enlargement": "learned"}, "enlargement needs an upscaling factor"),
        ({"upscale": 3, "enlargement": "learned"}, "bicubic, lanczos, back-projection at ×3"),
        ({"upscale": 2, "enlargement": "nearest"}, "got 'nearest'"),
    ],
)
def test_bad_settings_are_refused(settings: dict, fragment: str) -> None:
    with pytest.raises(mfif.OptionError, match=fragment):
        Pipeline("gff", **settings)


def test_grey_frames() -> None:
    sources, _, _ = complementary_stack(2, color=False, height=48, width=64)
    fused = mfif.fuse(list(sources[..., 0]), align="none", upscale=3, degradation="box")
    assert fused.image.shape == (144, 192, 1) and fused.weights.shape == (2, 144, 192)
    fused = mfif.fuse(list(sources[..., 0]), align="none", upscale=2)  # the learned start
    assert fused.image.shape == (96, 128, 1) and fused.weights.shape == (2, 96, 128)


def test_scale_one_changes_nothing() -> None:
    fuser = mfif.create("gff")
    assert Pipeline(fuser).fuser is fuser


@pytest.mark.slow
def test_cli_writes_every_output_at_the_larger_size(tmp_path: Path) -> None:
    low, _ = _low_stack("lanczos2", count=2)
    paths = [str(mfif.save_image(tmp_path / f"{k}.png", frame)) for k, frame in enumerate(low)]
    result = subprocess.run(
        [sys.executable, "-m", "mfif", "fuse", *paths, "-o", str(tmp_path / "out.png"),
         "--upscale", "2", "--degradation", "bicubic", "--weights", str(tmp_path / "w"),
         "--depth", str(tmp_path / "depth.tif"), "--depth-index", str(tmp_path / "index.png")],
        capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("out.png", "index.png", "depth-view.png", "w/weights-00-0.png"):
        assert mfif.read_image(tmp_path / name)[0].shape[:2] == (96, 128), name
    refused = subprocess.run(
        [sys.executable, "-m", "mfif", "fuse", *paths, "-o", str(tmp_path / "no.png"),
         "--degradation", "box"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "needs an upscaling factor" in refused.stderr
    assert not (tmp_path / "no.png").exists()
    for flags, message in (
        (["--enlargement", "learned"], "needs an upscaling factor"),
        (["--upscale", "3", "--enlargement", "learned"], "at ×3"),
    ):
        refused = subprocess.run(
            [sys.executable, "-m", "mfif", "fuse", *paths, "-o", str(tmp_path / "no.png"), *flags],
            capture_output=True, text=True,
        )  # fmt: skip
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, flags
        assert message in refused.stderr and not (tmp_path / "no.png").exists(), flags


@pytest.mark.slow
def test_cli_enlarges_from_the_learned_start(tmp_path: Path) -> None:
    low, truth = _low_stack("lanczos2", count=2)
    paths = [str(mfif.save_image(tmp_path / f"{k}.png", frame)) for k, frame in enumerate(low)]
    scores = {}
    for enlargement in ("back-projection", "learned"):
        output = tmp_path / f"{enlargement}.png"
        result = subprocess.run(
            [sys.executable, "-m", "mfif", "fuse", *paths, "-o", str(output), "--align", "none",
             "--upscale", "2", "--enlargement", enlargement],
            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        image = mfif.read_image(output)[0]
        assert image.shape == (96, 128, 3)
        scores[enlargement] = psnr(image, truth)
    assert scores["learned"] != scores["back-projection"]


def test_a_method_whose_scale_option_is_not_super_resolution_is_enlarged_after() -> None:
    """udpnet's ``scale`` shrinks its input; it does not make the result larger."""
    from mfif.bench.upsampled import benchmark_pipelines

    assert mfif.methods.method_class("udpnet").super_resolves is False
    pipelines = benchmark_pipelines(["udpnet", "dfp"], "none", 2)
    assert set(pipelines) == {
        "udpnet+back-projection", "udpnet+learned", "udpnet+bicubic", "udpnet+lanczos", "dfp"
    }  # fmt: skip
    at_three = benchmark_pipelines(["udpnet"], "none", 3)  # the learned start enlarges by 2
    assert set(at_three) == {"udpnet+back-projection", "udpnet+bicubic", "udpnet+lanczos"}
    assert isinstance(Pipeline("udpnet", upscale=2).fuser, UpscaledFuser)
