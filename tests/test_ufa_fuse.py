"""UFA-Fuse: model contract, attention, order independence, data, training, weights."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import mfif
from mfif.data.focus_stacks import StackSampler
from mfif.data.natural import natural_items, split_items
from mfif.errors import MfifError
from mfif.models.ufa_fuse import UFAFuse
from mfif.stack import Stack
from mfif.training.ufa_fuse import (
    UFA_FUSE_RECIPES,
    build_model,
    pass_through_start,
    train_ufa_fuse,
    ufa_fuse_loss,
)

from conftest import trained_and_resumed

TINY = replace(UFA_FUSE_RECIPES["cpu"], width=4, patch=32, batch_size=2, steps=2)


# -- model -------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 3])
def test_shape_contract(count: int) -> None:
    model = UFAFuse(8).eval()
    sources = torch.rand(2, count, 3, 24, 20)
    with torch.no_grad():
        fused = model(sources)
    assert fused.shape == (2, 3, 24, 20)
    assert fused.min() >= 0 and fused.max() <= 1


@pytest.mark.parametrize("count", [2, 3])
def test_attention_maps_are_softmaxes_across_the_sources(count: int) -> None:
    torch.manual_seed(0)
    model = UFAFuse(8).eval()
    with torch.no_grad():
        _, maps = model.fuse_features(torch.rand(1, count, 3, 16, 16))
    assert maps["channel"].shape == (1, count, 8, 1, 1)
    assert maps["spatial"].shape == (1, count, 1, 16, 16)
    for attention in maps.values():
        torch.testing.assert_close(attention.sum(dim=1), torch.ones_like(attention.sum(dim=1)))
        assert attention.min() > 0


@pytest.mark.parametrize("order", [(1, 0), (2, 0, 1), (1, 2, 0)])
def test_swapping_the_inputs_swaps_nothing_in_the_output(order: tuple[int, ...]) -> None:
    torch.manual_seed(1)
    model = UFAFuse(8).eval()
    sources = torch.rand(1, len(order), 3, 20, 20)
    with torch.no_grad():
        straight = model(sources)
        swapped = model(sources[:, list(order)])
    torch.testing.assert_close(swapped, straight, rtol=0, atol=1e-6)


def test_the_papers_concatenation_is_order_dependent_and_fixed_to_two() -> None:
    torch.manual_seed(2)
    model = UFAFuse(8, reduction="concat").eval()
    sources = torch.rand(1, 2, 3, 20, 20)
    with torch.no_grad():
        assert (model(sources) - model(sources.flip(1))).abs().max() > 0
        with pytest.raises(ValueError, match="exactly 2"):
            model(torch.rand(1, 3, 3, 20, 20))


def test_mean_reduction_of_copies_is_the_copied_features_for_any_number() -> None:
    torch.manual_seed(3)
    image = torch.rand(1, 1, 3, 18, 18)
    fused = {}
    for reduction in ("mean", "sum"):
        model = UFAFuse(8, reduction=reduction).eval()
        with torch.no_grad():
            fused[reduction] = [
                model.fuse_features(image.repeat(1, k, 1, 1, 1))[0] for k in (2, 3, 5)
            ]
    for features in fused["mean"][1:]:
        torch.testing.assert_close(features, fused["mean"][0], rtol=0, atol=1e-5)
    # the plain sum shrinks with the number of sources, which the mean undoes
    assert (fused["sum"][1] - fused["sum"][0]).abs().max() > 1e-2


@pytest.mark.parametrize("count", [2, 3])
def test_pass_through_start_returns_an_image_fused_with_itself(count: int) -> None:
    torch.manual_seed(4)
    model = UFAFuse(32).eval()
    tone_error = pass_through_start(model)
    image = torch.rand(1, 1, 3, 40, 40)
    with torch.no_grad():
        fused = model(image.repeat(1, count, 1, 1, 1))
    psnr = float(10 * torch.log10(1 / ((fused - image[:, 0]) ** 2).mean()))
    assert tone_error < 2.5 / 255  # 2.13 levels measured
    assert psnr > 50  # 53.3 dB measured; the first shipped weights, trained, gave about 40


@pytest.mark.parametrize(
    ("channel", "spatial", "parameters_less"),
    [(True, True, 0), (False, True, 0), (True, False, 2 * 7 * 7 + 1), (False, False, 99)],
)
def test_ablation_switches(channel: bool, spatial: bool, parameters_less: int) -> None:
    full = sum(p.numel() for p in UFAFuse(8).parameters())
    model = UFAFuse(8, channel_attention=channel, spatial_attention=spatial)
    count = sum(p.numel() for p in model.parameters())
    assert count == full - min(parameters_less, 2 * 7 * 7 + 1)
    with torch.no_grad():
        assert model(torch.rand(1, 2, 3, 16, 16)).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("count", [2, 3])
def test_residual_model_starts_as_the_attended_sources_in_any_order(count: int) -> None:
    torch.manual_seed(6)
    model = build_model(replace(TINY, width=8, residual=True)).eval()
    sources = torch.rand(1, count, 3, 20, 20)
    with torch.no_grad():
        fused = model(sources)
        _, maps = model.fuse_features(sources)
        swapped = model(sources.flip(1))
    weighted = (maps["spatial"] * sources).sum(dim=1)
    torch.testing.assert_close(fused, weighted, rtol=0, atol=0)
    torch.testing.assert_close(swapped, fused, rtol=0, atol=1e-6)
    # a stack of one image, repeated, is that image exactly
    with torch.no_grad():
        again = model(sources[:, :1].repeat(1, count, 1, 1, 1))
    torch.testing.assert_close(again, sources[:, 0], rtol=0, atol=1e-6)


def test_residual_without_spatial_attention_averages_the_sources() -> None:
    model = build_model(replace(TINY, width=8, residual=True, spatial_attention=False)).eval()
    sources = torch.rand(1, 2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(sources), sources.mean(dim=1), rtol=0, atol=0)


def test_residual_recipe_starts_from_the_shipped_paper_network() -> None:
    from mfif.weights import pretrained_config

    if pretrained_config("ufa_fuse.cpu") is None:
        pytest.skip("ufa_fuse.cpu weights are not shipped yet")
    recipe = UFA_FUSE_RECIPES["cpu-residual"]
    model = build_model(recipe)
    paper_network = mfif.create("ufa-fuse", weights="ufa_fuse.cpu")  # a manifest name
    assert paper_network.weights_sha256 == pretrained_config("ufa_fuse.cpu").sha256
    from mfif.weights import weights_file

    # The file's weights (the fuser's own model is in its inference form).
    shipped = torch.load(weights_file("ufa_fuse.cpu")[0], weights_only=True)
    assert model.residual and not shipped["config"].get("residual", False)
    last = [name for name in model.state_dict() if name.startswith("reconstruction")][-2:]
    for name, value in shipped["model"].items():
        expected = torch.zeros_like(value) if name in last else value
        torch.testing.assert_close(model.state_dict()[name], expected, rtol=0, atol=0, msg=name)
    with pytest.raises(MfifError, match="width 32 instead of 16"):
        build_model(replace(recipe, width=16))
    with pytest.raises(MfifError, match="No trained weights 'ufa_fuse.none'"):
        build_model(replace(recipe, start_from="ufa_fuse.none"))
    if pretrained_config("ufa_fuse.cpu-residual") is not None:
        resumed = build_model(replace(recipe, start_from="ufa_fuse.cpu-residual"))
        residual = torch.load(weights_file("ufa_fuse.cpu-residual")[0], weights_only=True)
        for name, value in residual["model"].items():
            torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=0)
        with pytest.raises(MfifError, match="are residual; train them with --residual"):
            build_model(replace(recipe, residual=False, start_from="ufa_fuse.cpu-residual"))


@pytest.mark.parametrize("residual", [False, True])
def test_weights_round_trip(tmp_path: Path, residual: bool) -> None:
    model = UFAFuse(6, spatial_attention=False, residual=residual)
    torch.save(model.state(), tmp_path / "w.pt")
    loaded = UFAFuse.from_state(torch.load(tmp_path / "w.pt", weights_only=True))
    assert loaded.config() == model.config()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value, rtol=0, atol=0)


def test_bfloat16_weights_stored_once_give_what_autocast_gives(tmp_path: Path) -> None:
    """A fuser loaded from a file in bfloat16 keeps its convolution weights in bfloat16 (so
    autocast does not round them again at every call): the same images as the float32
    model under bfloat16 autocast."""
    torch.manual_seed(0)
    model = UFAFuse(6, residual=True).eval()
    torch.save(model.state(), tmp_path / "w.pt")
    fuser = mfif.create("ufa-fuse", weights=str(tmp_path / "w.pt"), precision="bfloat16")
    convolutions = [m for m in fuser.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(m.weight.dtype == torch.bfloat16 for m in convolutions)
    sources = torch.rand(1, 3, 3, 40, 52)
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        stored = fuser.model(sources)
        rounded = model(sources)
    torch.testing.assert_close(stored.float(), rounded.float(), rtol=0, atol=1e-6)


def test_the_sum_over_sources_is_torch_sum() -> None:
    from mfif.models.ufa_fuse import _sum_sources

    features = torch.rand(2, 4, 5, 6, 7)
    torch.testing.assert_close(_sum_sources(features), features.sum(dim=1))


def test_loss_is_zero_only_at_the_truth() -> None:
    truth = torch.rand(2, 3, 32, 32)
    assert float(ufa_fuse_loss(truth, truth, 0.2)) == pytest.approx(0.0, abs=1e-5)
    assert float(ufa_fuse_loss(truth.flip(-1), truth, 0.2)) > 0.05


# -- data --------------------------------------------------------------------------------------


def test_split_keeps_sequences_and_scenes_together(natural_root: Path) -> None:
    items = natural_items(natural_root)
    assert not any(i.source == "pascal_s" and i.id == "9" for i in items)  # soft background
    for source in ("davis2016", "middlebury2006"):
        splits_of_group: dict[str, set[str]] = {}
        for item in (i for i in items if i.source == source):
            splits_of_group.setdefault(item.group, set()).add(item.split)
        assert all(len(s) == 1 for s in splits_of_group.values())
    record = split_items(items)
    assert set(record["train"]["davis2016"]).isdisjoint(record["test"]["davis2016"])
    assert {i.split for i in items if i.source == "bsds500"} == {"train", "validation", "test"}


@pytest.mark.parametrize("count", [2, 3])
def test_every_region_is_sharp_in_exactly_one_source(natural_root: Path, count: int) -> None:
    items = [i for i in natural_items(natural_root) if i.source == "pascal_s"]
    sampler = StackSampler(items, grey_probability=0.0)
    rng = np.random.default_rng(3)
    for _ in range(4):
        sources, truth = sampler.draw(rng, 64, count)
        assert sources.shape == (count, 64, 64, 3) and truth.shape == (64, 64, 3)
        assert sources.dtype == np.float32 and truth.dtype == np.float32
        exact = np.all(np.abs(sources - truth) < 1e-6, axis=-1)  # (K, H, W)
        assert exact.any(axis=0).mean() > 0.4  # away from the transitions, pixels are exact
        assert not np.all(exact, axis=(1, 2)).any()  # no source is the truth everywhere


def test_the_same_generator_draws_the_same_stack(natural_root: Path) -> None:
    sampler = StackSampler(natural_items(natural_root))
    first = sampler.draw(np.random.default_rng(5), 32, 2)
    second = sampler.draw(np.random.default_rng(5), 32, 2)
    np.testing.assert_array_equal(first[0], second[0])


# -- training and weights ----------------------------------------------------------------------


@pytest.mark.slow
def test_training_resumes_to_the_same_weights(natural_root: Path, tmp_path: Path) -> None:
    trained_and_resumed(train_ufa_fuse, natural_root, tmp_path, TINY)


@pytest.mark.slow
def test_train_export_writes_weights_and_their_manifest_entry(
    natural_root: Path, tmp_path: Path
) -> None:
    from mfif.cli import main

    scenes = tmp_path / "scored"
    assert (
        main(
            [
                "synth",
                "mask",
                str(natural_root / "pascal_s/images"),
                str(natural_root / "pascal_s/masks"),
                str(scenes),
                "--limit",
                "2",
            ]
        )
        == 0
    )
    out = tmp_path / "weights"
    out.mkdir()
    status = main(
        [
            "train",
            "ufa-fuse",
            "--data",
            str(natural_root),
            "--checkpoint",
            str(tmp_path / "c.ckpt"),
            "--width",
            "4",
            "--patch",
            "32",
            "--batch-size",
            "2",
            "--steps",
            "2",
            "--validate-every",
            "1",
            "--export",
            str(out / "tiny.pt"),
            "--tag",
            "tiny",
            "--score",
            str(scenes),
            "--note",
            "a smoke test",
        ]
    )
    assert status == 0
    entry = json.loads((out / "MANIFEST.json").read_text())["ufa_fuse.tiny"]
    assert entry["file"] == "tiny.pt" and entry["parameters"] > 0
    assert entry["recipe"]["width"] == 4 and entry["notes"] == "a smoke test"
    assert [step for step, _ in entry["validation"]["curve"]] == [1, 2]
    assert entry["scores"][0]["scenes"] == 2 and entry["scores"][0]["metrics"]["PSNR"] > 10
    assert "--note" not in entry["command"]
    fuser = mfif.create("ufa-fuse", weights=str(out / "tiny.pt"))
    fused = fuser.fuse(Stack(images=np.random.default_rng(0).random((3, 40, 50, 1), np.float32)))
    assert fused.image.shape == (40, 50, 1)


def test_shipped_weights_load_or_say_they_are_not_trained() -> None:
    from mfif.methods.ufa_fuse import UFAFuseFuser
    from mfif.weights import pretrained_config

    config = pretrained_config(UFAFuseFuser.pretrained)
    if config is None:
        with pytest.raises(MfifError, match="No trained weights"):
            mfif.create("ufa-fuse")
        return
    fuser = mfif.create("ufa-fuse")
    assert fuser.weights_sha256 == config.sha256
    assert fuser.parameter_count == config.parameters


def test_shipped_weights_fuse_a_generated_pair_sharper_than_either_source() -> None:
    from mfif.methods.ufa_fuse import UFAFuseFuser
    from mfif.weights import pretrained_config

    if pretrained_config(UFAFuseFuser.pretrained) is None:
        pytest.skip("UFA-Fuse weights are not shipped yet (mfif train ufa-fuse --export)")
    rng = np.random.default_rng(5)
    coarse = cv2.resize(
        rng.random((21, 25, 3), np.float32), (192, 160), interpolation=cv2.INTER_CUBIC
    )
    fine = 0.1 * rng.random((160, 192, 3), np.float32)
    truth = 0.2 + 0.6 * np.clip(coarse + fine, 0, 1)  # mid-tones: no clipped colours
    blurred = cv2.GaussianBlur(truth, (0, 0), 3.0)
    left = np.zeros((160, 192, 1), np.float32)
    left[:, :96] = 1.0
    near = truth * left + blurred * (1 - left)
    far = truth * (1 - left) + blurred * left
    fused = mfif.create("ufa-fuse").fuse(Stack(images=np.stack([near, far]))).image

    def psnr(image: np.ndarray) -> float:
        return float(10 * np.log10(1 / np.mean((image[8:-8, 8:-8] - truth[8:-8, 8:-8]) ** 2)))

    # measured with the shipped weights: 44.9 dB against 27.7 for the better source (the
    # paper's network, ufa_fuse.cpu: 40.8)
    assert psnr(fused) > max(psnr(near), psnr(far)) + 5
    # no colour shift: the mean of each channel stays within 1 level of the truth's (0.14
    # measured; ufa_fuse.cpu 0.47)
    assert np.abs((fused - truth).reshape(-1, 3).mean(axis=0)).max() < 1 / 255


def test_the_tree_fuses_neighbouring_pairs_then_their_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mfif.methods.ufa_fuse import UFAFuseFuser

    torch.save(UFAFuse(4).state(), tmp_path / "w.pt")
    fuser = mfif.create("ufa-fuse", weights=str(tmp_path / "w.pt"))
    assert fuser.many == "tree"
    calls = []

    def fuse_rgb(self, images: np.ndarray) -> np.ndarray:
        calls.append(tuple(float(image[0, 0, 0]) for image in images))
        return images.sum(axis=0)  # a label: which sources went in

    monkeypatch.setattr(UFAFuseFuser, "_fuse_rgb", fuse_rgb)
    sources = np.stack([np.full((8, 8, 3), 2.0**k, np.float32) for k in range(5)])
    fuser.fuse_stack(Stack(images=sources / 32))
    # ((S1, S2), (S3, S4)) then that with S5: each source in at most 3 fusions, not 4.
    assert [tuple(round(v * 32) for v in call) for call in calls] == [
        (1, 2), (4, 8), (3, 12), (15, 16)
    ]  # fmt: skip


@pytest.mark.parametrize("many", ["tree", "threes", "reduce", "fold"])
def test_fuser_keeps_a_stack_that_is_all_one_image(many: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.save(UFAFuse(4).state(), tmp_path / "w.pt")
    fuser = mfif.create("ufa-fuse", weights=str(tmp_path / "w.pt"), many=many, tile=32)
    image = np.random.default_rng(1).random((70, 50, 3), np.float32)
    fused = fuser.fuse(Stack(images=np.stack([image] * 3))).image
    assert fused.shape == image.shape and np.isfinite(fused).all()
