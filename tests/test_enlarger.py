"""The learned ×2 start of back-projection: the network, its inference in tiles, its training
and export."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mfif import learned_start as learned_start_module  # noqa: E402
from mfif.data.natural import natural_items  # noqa: E402
from mfif.learned_start import learned_start  # noqa: E402
from mfif.methods.network import resolve_precision  # noqa: E402
from mfif.models.enlarger import Enlarger  # noqa: E402
from mfif.training.enlarger import (  # noqa: E402
    ENLARGER_RECIPES,
    Photographs,
    enlargement_batch,
    train_enlarger,
)

from conftest import trained_and_resumed  # noqa: E402

TINY = replace(ENLARGER_RECIPES["x2"], width=4, depth=1, patch=16, batch_size=2, steps=2)


def _image(height: int = 40, width: int = 52, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.random((height, width, channels)).astype(np.float32), (0, 0), 1.5)
    return np.clip((image - image.min()) / (image.max() - image.min()), 0, 1)


def test_the_model_rebuilds_from_its_weights() -> None:
    torch.manual_seed(0)
    model = Enlarger(width=6, depth=2)
    rebuilt = Enlarger.from_state_dict(model.state_dict())
    assert rebuilt.reach == model.reach == 4
    small = torch.rand(1, 1, 10, 12)
    interpolated = torch.rand(1, 1, 20, 24)
    out = rebuilt(small, interpolated)
    assert out.shape == (1, 1, 20, 24)
    torch.testing.assert_close(out, model(small, interpolated))


def test_a_model_that_adds_nothing_gives_lanczos_in_every_channel() -> None:
    model = Enlarger(width=4, depth=1).eval()
    torch.nn.init.zeros_(model.body[-1].weight)
    torch.nn.init.zeros_(model.body[-1].bias)
    image = _image()
    start = learned_start(image, model=model)
    expected = cv2.resize(image, (104, 80), interpolation=cv2.INTER_LANCZOS4)
    assert start.shape == (80, 104, 3) and start.dtype == np.float32
    np.testing.assert_allclose(start, expected, atol=1e-6)


def test_the_correction_is_the_luminance_one_added_to_each_channel() -> None:
    torch.manual_seed(2)
    model = Enlarger(width=4, depth=1).eval()
    image = _image()
    colour = learned_start(image, model=model, precision="float32")
    grey = learned_start(
        image @ np.float32([0.299, 0.587, 0.114]), model=model, precision="float32"
    )
    lanczos = cv2.resize(image, (104, 80), interpolation=cv2.INTER_LANCZOS4)
    grey_lanczos = cv2.resize(
        np.ascontiguousarray(image @ np.float32([0.299, 0.587, 0.114])), (104, 80),
        interpolation=cv2.INTER_LANCZOS4,
    )  # fmt: skip
    for channel in range(3):
        np.testing.assert_allclose(
            colour[..., channel] - lanczos[..., channel], grey - grey_lanczos, atol=2e-5
        )
    assert np.abs(grey - grey_lanczos).max() > 1e-3  # it does correct something


def test_tiles_agree_with_the_whole_image(monkeypatch) -> None:
    torch.manual_seed(3)
    model = Enlarger(width=4, depth=1).eval()
    image = np.ascontiguousarray(_image(60, 70)[..., 0])
    whole = learned_start(image, model=model, precision="float32")
    monkeypatch.setattr(learned_start_module, "_TILE", 24)
    tiled = learned_start(image, model=model, precision="float32")
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    if resolve_precision("auto", "cpu") == "bfloat16":  # within bfloat16's rounding
        fast = learned_start(image, model=model)
        assert np.abs(fast - whole).max() < 0.01


def test_batches_are_drawn_from_the_generator_alone(natural_root: Path) -> None:
    items = [i for i in natural_items(natural_root) if i.source == "pascal_s"]
    photographs = Photographs(items, TINY.models())
    recipe = replace(TINY, batch_size=6, soft=0.4, texture=0.3)
    first = enlargement_batch(photographs, np.random.default_rng(4), recipe)
    second = enlargement_batch(photographs, np.random.default_rng(4), recipe)
    small, interpolated, truth = first
    assert small.shape == (6, 1, 16, 16)
    assert interpolated.shape == truth.shape == (6, 1, 32, 32)
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert 0 <= float(small.min()) and float(small.max()) <= 1


def test_an_unknown_degradation_is_refused() -> None:
    from mfif.errors import OptionError

    with pytest.raises(OptionError, match="degradations"):
        replace(TINY, degradations="lanczos2,blurry").models()


@pytest.mark.slow
def test_training_resumes_to_the_same_weights(natural_root: Path, tmp_path: Path) -> None:
    trained_and_resumed(train_enlarger, natural_root, tmp_path, TINY)


@pytest.mark.slow
def test_export_writes_weights_and_scores_the_enlargement(
    natural_root: Path, tmp_path: Path
) -> None:
    from mfif.cli import main

    scored = tmp_path / "scored"
    images, masks = natural_root / "pascal_s/images", natural_root / "pascal_s/masks"
    assert main(["synth", "mask", str(images), str(masks), str(scored), "--limit", "2"]) == 0
    export = tmp_path / "weights" / "enlarger-tiny.pt"
    export.parent.mkdir()
    command = [
        sys.executable, "-m", "mfif", "train", "enlarger", "--data", str(natural_root),
        "--checkpoint", str(tmp_path / "run.ckpt"), "--steps", "2", "--width", "4",
        "--depth", "1", "--patch", "16", "--batch-size", "2", "--validate-every", "2",
        "--export", str(export), "--tag", "tiny", "--score", str(scored),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    entry = json.loads((export.parent / "MANIFEST.json").read_text())["enlarger.tiny"]
    assert entry["architecture"] == "mfif.models.enlarger.Enlarger"
    assert entry["parameters"] == sum(p.numel() for p in Enlarger(4, 1).parameters())
    metrics = entry["scores"][0]["metrics"]
    assert set(metrics) == {
        "PSNR learned start, made by lanczos2", "PSNR Lanczos-4 start, made by lanczos2",
        "PSNR learned start, made by box", "PSNR Lanczos-4 start, made by box",
    }  # fmt: skip
    assert all(10 < value < 80 for value in metrics.values())
    assert "for mfif's enlarger" in entry["trained_on"]


def _shapes(seed: int, size: int = 192) -> np.ndarray:
    """Random filled discs and bars drawn at 4x and averaged down: sharp edges, as photographs
    have, (size, size, 3) float32."""
    rng = np.random.default_rng(seed)
    canvas = np.full((4 * size, 4 * size, 3), rng.random(3) * 255, np.uint8)
    for _ in range(14):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        centre = tuple(int(c) for c in rng.integers(0, 4 * size, 2))
        if rng.random() < 0.5:
            cv2.circle(canvas, centre, int(rng.integers(20, 160)), colour, -1, cv2.LINE_AA)
        else:
            end = tuple(int(c) for c in rng.integers(0, 4 * size, 2))
            cv2.line(canvas, centre, end, colour, int(rng.integers(6, 40)), cv2.LINE_AA)
    small = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255


def test_the_shipped_start_is_closer_to_sharp_edges_than_lanczos() -> None:
    from mfif.metrics import psnr
    from mfif.resample import back_projected_upsample, downsample

    for seed in range(3):
        truth = _shapes(seed)
        small = np.clip(downsample(truth, 2, "lanczos2"), 0, 1)
        lanczos = back_projected_upsample(small, 2, start="lanczos")
        learned = back_projected_upsample(small, 2, start="learned")
        assert psnr(learned, truth) > psnr(lanczos, truth) + 0.3, seed
