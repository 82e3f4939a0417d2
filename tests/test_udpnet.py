"""UDPNet: model, losses, blind spot, exact resumption, tiling, fuser."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import mfif
from mfif.models.udpnet import UDPNet, compose, initial_masks
from mfif.training.udpnet import UDPNetRecipe, blind_spot, train_udpnet, udpnet_loss

from conftest import complementary_stack

TINY = UDPNetRecipe(patch=24, batch_size=2)


@pytest.fixture(scope="module")
def stacks_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stacks") / "toy"
    for k in range(3):
        sources, _, _ = complementary_stack(2, color=False, seed=k)
        scene = root / f"s{k}"
        scene.mkdir(parents=True)
        for name, image in zip("AB", sources, strict=True):
            mfif.save_image(scene / f"{name}.png", image)
    return root


@pytest.mark.parametrize("count", [2, 3])
def test_shapes_and_ranges(count: int) -> None:
    torch.manual_seed(0)
    model = UDPNet()
    sources = torch.rand(2, count, 32, 40)
    image, stages = model.fuser(sources)
    assert image.shape == (2, 1, 32, 40) and len(stages) == 3
    assert all(m.shape == (2, count, 32, 40) and 0 <= m.min() and m.max() <= 1 for m in stages)
    masks = model.fusion_masks(sources)
    torch.testing.assert_close(masks.sum(1), torch.ones(2, 32, 40))


def test_parameter_count_is_close_to_the_paper() -> None:
    count = sum(p.numel() for p in UDPNet().fuser.parameters())
    assert 0.3e6 < count < 0.5e6  # paper: 0.392 M


def test_initial_masks_pick_the_sharper_source() -> None:
    sources, _, labels = complementary_stack(2, color=False, width=128)
    tensor = torch.from_numpy(sources[..., 0])[None]
    masks = initial_masks(tensor)[0].numpy()
    torch.testing.assert_close(initial_masks(tensor).sum(1), torch.ones(1, 96, 128))
    agreement = np.mean((masks[1] > masks[0]) == (labels == 1))
    assert agreement > 0.7
    torch.testing.assert_close(
        compose(torch.ones(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.5)),
        torch.full((1, 1, 4, 4), 0.5),
    )


def test_laplacian_initial_masks_pick_the_sharper_source_more_often() -> None:
    sources, _, labels = complementary_stack(2, color=False, width=128)
    tensor = torch.from_numpy(sources[..., 0])[None]
    agreement = {}
    for operator in ("gradient", "laplacian"):
        masks = initial_masks(tensor, operator)
        torch.testing.assert_close(masks.sum(1), torch.ones(1, 96, 128))
        agreement[operator] = np.mean((masks[0, 1] > masks[0, 0]).numpy() == (labels == 1))
    assert agreement["laplacian"] > 0.7
    with pytest.raises(ValueError, match="operator"):
        initial_masks(tensor, "sobel")


def test_the_initial_operator_travels_with_the_weights() -> None:
    torch.manual_seed(0)
    model = UDPNet(initial_operator="laplacian")
    again = UDPNet.from_state_dict(model.state_dict())
    assert again.initial_operator == again.fuser.initial_operator == "laplacian"
    sources = torch.rand(1, 2, 40, 40)
    torch.testing.assert_close(again.fusion_masks(sources), model.fusion_masks(sources))
    # Weights saved before the operator was recorded were trained on eq. (3)'s gradient.
    old = {k: v for k, v in model.state_dict().items() if k != "initial_operator_index"}
    assert UDPNet.from_state_dict(old).initial_operator == "gradient"
    # Loading into a model built for another operator follows the weights.
    other = UDPNet()
    other.load_state_dict(model.state_dict())
    assert other.initial_operator == other.fuser.initial_operator == "laplacian"


def test_blind_spot_perturbation() -> None:
    masks = torch.zeros(1, 2, 64, 64)
    masks[:, 0] = 1.0
    perturbed, kept = blind_spot(masks, 0.9, torch.Generator().manual_seed(0))
    assert 0.87 < kept.mean() < 0.93
    # In a uniform region every neighbour agrees, so replaced pixels keep their value.
    torch.testing.assert_close(perturbed, masks)
    # A lone pixel has no neighbour like it: when replaced, it takes the neighbours' value.
    lone = torch.zeros(1, 1, 64, 64)
    lone[..., 2:-2:4, 2:-2:4] = 1.0
    perturbed, kept = blind_spot(lone, 0.5, torch.Generator().manual_seed(1))
    replaced_ones = (kept == 0) & (lone == 1)
    assert replaced_ones.sum() > 20 and torch.all(perturbed[replaced_ones] == 0)


@pytest.mark.parametrize(
    "recipe",
    [
        TINY,
        UDPNetRecipe(patch=24, batch_size=2, blind_spot=False),
        UDPNetRecipe(patch=24, batch_size=2, use_fuser=False),
    ],
)
def test_losses_are_finite_and_backpropagate(recipe: UDPNetRecipe) -> None:
    torch.manual_seed(0)
    model = UDPNet(use_fuser=recipe.use_fuser)
    loss, logs = udpnet_loss(
        model, torch.rand(2, 2, 24, 24), recipe, torch.Generator().manual_seed(0)
    )
    loss.backward()
    assert torch.isfinite(loss) and "L_F" in logs
    assert ("L_G" in logs) == recipe.use_fuser
    assert all(p.grad is not None for p in model.predictor.parameters())


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_weights(stacks_root: Path, tmp_path: Path) -> None:
    whole, _, _ = train_udpnet(
        [stacks_root],
        tmp_path / "whole.pt",
        recipe=replace(TINY, steps=4),
        checkpoint_every=2,
        progress=False,
    )
    train_udpnet(
        [stacks_root],
        tmp_path / "split.pt",
        recipe=replace(TINY, steps=2),
        checkpoint_every=2,
        progress=False,
    )
    resumed, history, _ = train_udpnet(
        [stacks_root],
        tmp_path / "split.pt",
        recipe=replace(TINY, steps=4),
        checkpoint_every=2,
        progress=False,
    )
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=0, msg=name)
    assert [step for step, _ in history.losses] == [1, 2, 3, 4]


@pytest.mark.slow
def test_a_checkpoint_with_other_settings_is_refused(stacks_root: Path, tmp_path: Path) -> None:
    train_udpnet([stacks_root], tmp_path / "c.pt", recipe=replace(TINY, steps=1), progress=False)
    with pytest.raises(ValueError, match="other settings"):
        train_udpnet(
            [stacks_root],
            tmp_path / "c.pt",
            recipe=UDPNetRecipe(patch=24, batch_size=2, blind_spot=False, steps=2),
            progress=False,
        )


@pytest.mark.slow
def test_fuser_with_a_checkpoint(stacks_root: Path, tmp_path: Path) -> None:
    train_udpnet([stacks_root], tmp_path / "f.pt", recipe=replace(TINY, steps=1), progress=False)
    sources, _, _ = complementary_stack(3, color=True, height=70, width=90)
    result = mfif.fuse(list(sources), method="udpnet", weights=tmp_path / "f.pt", tile=48)
    assert result.image.shape == (70, 90, 3)
    np.testing.assert_allclose(result.weights.sum(axis=0), 1.0, atol=1e-5)


def test_hard_decision_turns_uncertain_masks_into_clean_regions(
    stacks_root: Path, tmp_path: Path
) -> None:
    train_udpnet([stacks_root], tmp_path / "h.pt", recipe=replace(TINY, steps=1), progress=False)
    height, width = 80, 96
    rng = np.random.default_rng(0)
    # Masks as an undertrained model gives them: right on average, uncertain, speckled.
    first = np.where(np.arange(width) < width // 2, 0.7, 0.3) + rng.normal(0, 0.1, (height, width))
    speckle = rng.random((height, width)) < 0.01
    first[speckle] = 1 - first[speckle]
    masks = torch.from_numpy(np.stack([first, 1 - first]).astype(np.float32))

    def fixed_masks(sources: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(masks[None], size=sources.shape[2:])

    sources = mfif.Stack(rng.random((2, height, width, 1)).astype(np.float32))
    for scale in (1.0, 0.5):
        fuser = mfif.create(
            "udpnet", weights=tmp_path / "h.pt", tile=256, decision="hard", scale=scale,
            min_region=0.002,
        )  # fmt: skip
        fuser.model.fusion_masks = fixed_masks
        weights = fuser.fuse(sources).weights
        np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-5)
        far_left, far_right = weights[0, :, : width // 2 - 10], weights[0, :, width // 2 + 10 :]
        np.testing.assert_allclose(far_left, 1.0, atol=0.02)
        np.testing.assert_allclose(far_right, 0.0, atol=0.02)
    # By default every region is kept: a 12 x 12 detail the masks clearly give the other source
    # stays that source's (min_region=0.05, 384 pixels here, hands it to its surroundings).
    first[18:30, 18:30] = 0.05
    masks = torch.from_numpy(np.stack([first, 1 - first]).astype(np.float32))
    for min_region, expected in ((None, 0.0), (0.05, 1.0)):
        options = {} if min_region is None else {"min_region": min_region}
        fuser = mfif.create("udpnet", weights=tmp_path / "h.pt", tile=256, **options)
        assert fuser.min_region == (min_region or 0)
        fuser.model.fusion_masks = fixed_masks
        weights = fuser.fuse(sources).weights
        assert abs(weights[0, 24, 24] - expected) < 0.3  # edges are guided-filtered
    with pytest.raises(mfif.MfifError, match="decision"):
        mfif.create("udpnet", weights=tmp_path / "h.pt", decision="binary")


def test_bad_weights_path_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(mfif.MfifError, match="Cannot load UDPNet weights"):
        mfif.create("udpnet", weights=tmp_path / "missing.pt")


def test_model_shape_is_read_back_from_its_weights() -> None:
    torch.manual_seed(0)
    model = UDPNet(predictor_levels=3, fuser_levels=3, fuser_width=6)
    again = UDPNet.from_state_dict(model.state_dict())
    sources = torch.rand(1, 2, 40, 40)
    torch.testing.assert_close(again.fusion_masks(sources), model.fusion_masks(sources))
    predictor_only = UDPNet.from_state_dict(UDPNet(use_fuser=False).state_dict())
    assert predictor_only.fuser is None


def test_shipped_weights_carry_their_recipes() -> None:
    shipped, paper = mfif.create("udpnet"), mfif.create("udpnet-paper")
    assert (shipped.model.initial_operator, shipped.decision) == ("laplacian", "hard")
    assert (paper.model.initial_operator, paper.decision) == ("gradient", "soft")
    assert shipped.weights_sha256 != paper.weights_sha256


def test_without_top_octave_removes_nyquist_and_keeps_the_mean() -> None:
    """The decision inputs' filter: a half-pixel bicubic shift there and back (the same
    values inside the image), no response at the Nyquist frequency, a flat plane kept."""
    import cv2

    from mfif.methods.udpnet import without_top_octave

    rng = np.random.default_rng(0)
    plane = rng.random((40, 50)).astype(np.float32)

    def shifted(image: np.ndarray, step: float) -> np.ndarray:
        matrix = np.float64([[1, 0, step], [0, 1, step]])
        flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
        return cv2.warpAffine(image, matrix, (50, 40), flags=flags, borderMode=cv2.BORDER_REPLICATE)

    filtered = without_top_octave(plane[None])[0]
    np.testing.assert_allclose(
        filtered[4:-4, 4:-4], shifted(shifted(plane, 0.5), -0.5)[4:-4, 4:-4], atol=1e-5
    )
    checkers = (np.indices((40, 50)).sum(axis=0) % 2).astype(np.float32)
    np.testing.assert_allclose(without_top_octave(checkers[None])[0][4:-4, 4:-4], 0.5, atol=1e-6)
    np.testing.assert_allclose(without_top_octave(np.full((1, 9, 9), 0.3))[0], 0.3, atol=1e-6)


def test_only_the_paper_recipe_sees_the_top_octave(monkeypatch) -> None:
    from mfif.methods import udpnet

    filtered = []
    original = udpnet.without_top_octave
    monkeypatch.setattr(
        udpnet, "without_top_octave", lambda planes: filtered.append(1) or original(planes)
    )
    sources, _, _ = complementary_stack(2, color=False, seed=3)
    luma = np.stack([source[..., 0] for source in sources]).astype(np.float32)
    udpnet.UDPNetPaperFuser().weights(luma)
    assert filtered == []
    weights = udpnet.UDPNetFuser().weights(luma)
    assert filtered == [1]
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-5)
