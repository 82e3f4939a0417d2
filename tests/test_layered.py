"""Realistic ground-truth stacks: the camera's signal-dependent noise and JPEG, and layered
scenes with occlusion-aware defocus and a halo band, scored by region in the benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import mfif
from mfif.bench import find_scenes, run_benchmark
from mfif.data.camera import READ_NOISE_SHARE, Capture
from mfif.data.layered import LABEL_BAND, LABEL_OBJECT, render_layers, synthesize_layered
from mfif.data.misalign import Misalignment
from mfif.data.synth import synthesize_from_masks
from mfif.errors import OptionError
from mfif.io import to_integer
from mfif.metrics import compute

from conftest import sharp_image


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for k in range(3):
        rgb = to_integer(sharp_image(96, 128, color=True, seed=k), 8)
        cv2.imwrite(str(images / f"scene{k}.png"), rgb[..., ::-1])
        mask = np.zeros((96, 128), np.uint8)
        cv2.circle(mask, (60 + 5 * k, 48), 25, 255, -1)
        cv2.imwrite(str(masks / f"scene{k}.png"), mask)
    return {"images": images, "masks": masks, "out": tmp_path / "out"}


@pytest.mark.parametrize("level", [0.0, 0.5, 1.0])
def test_noise_is_shot_plus_read_noise(level: float) -> None:
    flat = np.full((400, 400, 1), level, np.float32)
    noisy = Capture(noise=4.0).add_noise(flat, np.random.default_rng(0))
    inside = noisy[(noisy > 0) & (noisy < 1)] if level in (0.0, 1.0) else noisy
    read = READ_NOISE_SHARE * 4.0
    expected = np.sqrt(read**2 + (4.0**2 - read**2) * level / 0.5)
    if level == 0.5:  # unclipped: the σ asked for at mid-grey
        assert np.std(inside * 255) == pytest.approx(expected, rel=0.03)
    assert noisy.dtype == np.float32 and noisy.min() >= 0 and noisy.max() <= 1
    again = Capture(noise=4.0).add_noise(flat, np.random.default_rng(0))
    np.testing.assert_array_equal(noisy, again)


def test_noise_grows_with_the_signal() -> None:
    rng = np.random.default_rng(1)
    dark = Capture(noise=4.0).add_noise(np.full((300, 300, 1), 0.1, np.float32), rng)
    bright = Capture(noise=4.0).add_noise(np.full((300, 300, 1), 0.8, np.float32), rng)
    assert np.std(bright) > 1.8 * np.std(dark)


def test_capture_settings_are_checked() -> None:
    with pytest.raises(OptionError, match="noise"):
        Capture(noise=-1)
    with pytest.raises(OptionError, match="quality"):
        Capture(jpeg=0)


def test_jpeg_sources_and_noise_after_the_motion(inputs) -> None:
    manifest = synthesize_from_masks(
        [inputs["images"]], inputs["masks"], inputs["out"], noise=3.0, jpeg=85,
        misalignment=Misalignment(breathing=4, shift=2),
    )  # fmt: skip
    assert manifest["capture"]["noise"] == 3.0 and manifest["capture"]["jpeg"] == 85
    scene = inputs["out"] / "scene0"
    assert sorted(p.name for p in scene.iterdir()) == ["A.jpg", "B.jpg", "GT.png"]
    scenes = find_scenes([inputs["out"]])[0]
    assert len(scenes) == 3 and scenes[0].sources[0].suffix == ".jpg"


def test_layers_composite_with_the_blurred_alpha() -> None:
    height, width = 64, 80
    foreground = np.full((height, width, 1), 0.9, np.float32)
    background = sharp_image(height, width, color=False, seed=3).reshape(height, width, 1) * 0.5
    alpha = np.zeros((height, width), np.float32)
    alpha[20:44, 30:50] = 1.0
    frames, truth, labels = render_layers(foreground, alpha, background, planes=3, max_blur=6)
    assert len(frames) == 3
    np.testing.assert_allclose(frames[0][alpha == 1], 0.9, atol=1e-6)  # object in focus
    np.testing.assert_allclose(truth[alpha == 1], 0.9, atol=1e-6)
    # The background is sharp in no frame: its least blur is the truth's.
    for frame in frames:
        assert np.abs(frame[alpha == 0] - background[alpha == 0]).mean() > 0.005
    np.testing.assert_allclose(frames[-1][:5, :5], truth[:5, :5], atol=1e-6)  # far from it
    # The defocused object spreads over the band around it, the focused one does not.
    band = labels == LABEL_BAND
    assert (frames[-1][band] - truth[band]).mean() > 0.02
    assert labels[alpha == 1].min() == LABEL_OBJECT and band.sum() > 0


def test_layered_scenes_on_disk_and_the_benchmark_scores_their_regions(inputs, tmp_path) -> None:
    manifest = synthesize_layered(
        [inputs["images"]], inputs["masks"], inputs["out"], planes=3, max_blur=5, seed=2
    )
    assert manifest["kind"] == "layered" and len(manifest["scenes"]) == 3
    entry = manifest["scenes"]["scene0"]
    assert entry["background"].endswith("scene1.png") and len(entry["highlights"]) == 3
    scene = inputs["out"] / "scene0"
    assert sorted(p.name for p in scene.iterdir()) == [
        "A.png", "B.png", "C.png", "GT.png", "LABELS.png",
    ]  # fmt: skip
    labels = cv2.imread(str(scene / "LABELS.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(labels)) == {0, 1, 2}
    records, _ = run_benchmark(
        find_scenes([inputs["out"]])[0], ["guided-decision"], tmp_path / "bench",
        metrics=["PSNR", "PSNR_band", "PSNR_object"], progress=False,
    )  # fmt: skip
    for record in records:
        assert set(record.metrics) == {"PSNR", "PSNR_band", "PSNR_object"}
        if record.method == "guided-decision":  # not the best single source's baseline
            assert record.metrics["PSNR_band"] < record.metrics["PSNR"]  # the hard part
    assert json.loads((inputs["out"] / "synth.json").read_text())["kind"] == "layered"


def test_a_region_metric_needs_the_benchmark() -> None:
    image = np.zeros((8, 8), np.float32)
    with pytest.raises(mfif.MfifError, match="label image"):
        compute(["PSNR_band"], image, ground_truth=image)
