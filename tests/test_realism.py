"""Realistic training stacks (`mfif.data.realism`): noise, JPEG, alignment residue and layered
occlusion in the sampler, and recipes that add them without breaking shipped checkpoints."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mfif.data.focus_stacks import StackSampler
from mfif.data.natural import NaturalItem
from mfif.data.realism import Realism
from mfif.errors import OptionError
from mfif.training.fit import recipe_settings
from mfif.training.msa_siamese import MSA_SIAMESE_RECIPES, sampler_of

from conftest import sharp_image


def _flat(value: float = 0.5) -> np.ndarray:
    return np.full((2, 64, 64, 3), value, np.float32)


def test_noise_follows_the_camera_model() -> None:
    rng = np.random.default_rng(0)
    noisy = [Realism(noise=6.0).degrade(_flat(), rng) for _ in range(40)]
    sigmas = [float(stack.std() * 255) for stack in noisy]
    assert 0 < min(sigmas) and max(sigmas) <= 6.5  # σ drawn per stack from 0 to 6
    assert 2.0 < np.mean(sigmas) < 4.0


def test_residue_moves_every_source_but_one_by_a_fraction_of_a_pixel() -> None:
    image = sharp_image(64, 64, color=True)
    sources = np.stack([image, image, image])
    moved = Realism(residue=0.5).degrade(sources, np.random.default_rng(1))
    unchanged = [np.array_equal(moved[k], image) for k in range(3)]
    assert sum(unchanged) == 1
    assert all(np.abs(moved[k] - image).mean() < 0.05 for k in range(3))


def test_jpeg_changes_the_samples_and_nothing_is_drawn_when_off() -> None:
    image = sharp_image(64, 64, color=True)
    sources = np.stack([image, image])
    stored = Realism(jpeg=1.0).degrade(sources, np.random.default_rng(2))
    assert 0 < np.abs(stored - sources).max() < 0.5
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    assert np.array_equal(Realism().degrade(sources, rng), sources)
    assert rng.bit_generator.state == state
    with pytest.raises(OptionError):
        Realism(jpeg=1.5)


def _mask_item(tmp_path) -> NaturalItem:
    import cv2

    image = (sharp_image(160, 160, color=True, seed=4) * 255).astype(np.uint8)
    mask = np.zeros((160, 160), np.uint8)
    cv2.circle(mask, (80, 80), 40, 255, -1)
    cv2.imwrite(str(tmp_path / "image.png"), image)
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    return NaturalItem("davis2016", "one", tmp_path / "image.png", tmp_path / "mask.png",
                       "one", "train")  # fmt: skip


def test_layered_stacks_have_their_own_truth_and_per_pixel_targets(tmp_path) -> None:
    sampler = StackSampler([_mask_item(tmp_path)], realism=Realism(layered=1.0),
                           grey_probability=0.0)  # fmt: skip
    sources, truth, shares = sampler.draw(np.random.default_rng(5), 128, 2, targets=True)
    assert sources.shape == (2, 128, 128, 3) and truth.shape == (128, 128, 3)
    np.testing.assert_allclose(shares.sum(axis=0), 1.0, atol=1e-6)
    assert set(np.unique(shares)) <= {0.0, 0.5, 1.0}
    # The object (the disk at the centre, however the crop fell) is sharp in one source only,
    # and that source takes it; the background is never sharp, so the truth is no source.
    errors = np.abs(sources - truth[None]).mean(axis=-1)
    assert min(errors[0].mean(), errors[1].mean()) > 1e-3
    winner = shares[0] > 0.5
    assert 0.05 < winner.mean() < 0.95


def test_a_sampler_without_realism_draws_what_it_drew_before(tmp_path) -> None:
    item = _mask_item(tmp_path)
    plain = StackSampler([item]).draw(np.random.default_rng(6), 64, 2, targets=True)
    off = StackSampler([item], realism=Realism()).draw(np.random.default_rng(6), 64, 2,
                                                       targets=True)  # fmt: skip
    assert all(np.array_equal(a, b) for a, b in zip(plain, off, strict=True))


def test_fields_added_later_keep_shipped_checkpoints_resumable() -> None:
    cpu = MSA_SIAMESE_RECIPES["cpu"]
    settings = recipe_settings(cpu)
    assert not {"noise", "jpeg", "residue", "layered", "start_from"} & set(settings)
    assert "steps" not in settings and settings["patch"] == 128
    realistic = recipe_settings(MSA_SIAMESE_RECIPES["cpu-realistic"])
    assert realistic["noise"] == 4.0 and realistic["start_from"] == "msa_siamese.cpu"


def test_a_recipe_passes_its_realism_to_the_sampler(tmp_path) -> None:
    recipe = replace(MSA_SIAMESE_RECIPES["cpu"], noise=2.0, layered=0.5)
    sampler = sampler_of([_mask_item(tmp_path)], recipe)
    assert sampler.realism == Realism(noise=2.0, layered=0.5)
    assert sampler.description()["realism"]["noise"] == 2.0
