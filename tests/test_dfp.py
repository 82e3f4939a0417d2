"""DFP: SKIPnet, the decision segmentation (eqs. (17)-(19)), the losses, the plateau rule, the
per-stack fit end to end (tiny sizes, few iterations), ×s through the pipeline, CLI and bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mfif
from mfif.cli import main
from mfif.decision import segment_decision
from mfif.focus import double_reblur

from conftest import complementary_stack

torch = pytest.importorskip("torch")

from mfif import deep_prior as dfp  # noqa: E402
from mfif.models.dfp import SkipNet  # noqa: E402

QUICK = {"iterations": 4, "embedding_iterations": 3}


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize(("height", "width"), [(32, 32), (37, 50)])
def test_skipnet_keeps_any_size_and_ends_in_a_sigmoid(kernel: int, height: int, width: int) -> None:
    network = SkipNet(3, 2, widths=(4, 8, 8), kernel=kernel)
    output = network(torch.rand(1, 3, height, width))
    assert output.shape == (1, 2, height, width)
    assert 0.0 < float(output.detach().min()) and float(output.detach().max()) < 1.0
    logits = SkipNet(3, 2, widths=(4, 8), sigmoid=False)(torch.rand(1, 3, 9, 9))
    assert logits.shape == (1, 2, 9, 9)


@pytest.mark.parametrize(("height", "width"), [(32, 32), (37, 50)])
def test_skipnet_unshuffled_keeps_any_size_and_works_at_a_coarser_scale(
    height: int, width: int
) -> None:
    """With unshuffle r the network's first convolution sees r² times the channels at 1/r of
    the size, and the output still has the input's size (odd sides included)."""
    network = SkipNet(3, 2, widths=(4, 8, 8), unshuffle=2)
    seen = []
    first = network.encoders[0][0]
    first.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    output = network(torch.rand(1, 3, height, width))
    assert output.shape == (1, 2, height, width)
    padded = -(-width // 16) * 16  # reflected to a multiple of r * 2**depth, then unshuffled
    assert seen[0][1] == 12 and seen[0][-1] == padded // 2
    with pytest.raises(ValueError, match="unshuffle"):
        SkipNet(3, 2, unshuffle=0)


def test_plateau_rule_stops_on_a_flat_loss_and_not_on_a_falling_one() -> None:
    rule = dfp.PlateauRule(window=10, tolerance=0.01, minimum=30, maximum=500)
    flat = dfp.Plateau(rule)
    stops = [flat.update(1.0) for _ in range(40)]
    assert stops.index(True) + 1 == 30  # flat from the start: stops at the minimum
    falling = dfp.Plateau(rule)
    # Falls 5 % per 10 iterations, then flattens at iteration 200.
    losses = [0.995**i for i in range(200)] + [0.995**200] * 300
    stop = next(i for i, loss in enumerate(losses, 1) if falling.update(loss))
    assert 200 < stop < 260
    capped = dfp.Plateau(dfp.PlateauRule(window=10, minimum=5, maximum=50))
    assert next(i for i in range(1, 100) if capped.update(0.99**i)) == 50


def test_double_reblur_decision_follows_the_known_blur_relation() -> None:
    sources, _, labels = complementary_stack(2, color=False, width=160, sigma=2.0)
    decided = segment_decision(double_reblur(sources[..., 0]))
    inside = np.ones_like(labels, dtype=bool)
    inside[:, 72:88] = False  # the band where the windows straddle the seam
    assert (decided[inside] == labels[inside]).mean() > 0.98
    three, _, truth3 = complementary_stack(3, color=False, width=240, sigma=2.0)
    decided3 = segment_decision(double_reblur(three[..., 0]))
    assert (decided3 == truth3).mean() > 0.93


def test_segmentation_fill_modes() -> None:
    rng = np.random.default_rng(0)
    scores = np.zeros((2, 60, 60), np.float32)
    scores[0, :, :30] = 1.0  # source 0 wins the left half by a wide margin
    scores[1, :, 30:] = 1.0
    scores[0, 10:13, 45:48] = 2.0  # a 3x3 speck of source 0 in source 1's half
    scores += rng.uniform(0, 1e-3, scores.shape).astype(np.float32)
    kept = segment_decision(scores, fill="none", dilate=1, erode=1)
    assert (kept[10:13, 45:48] == 0).all()
    largest = segment_decision(scores, fill="largest")
    assert (largest[:, :30] == 0).all() and (largest[:, 30:] == 1).all()
    regions = segment_decision(scores, fill="regions", min_region=0.01)
    assert (regions[10:13, 45:48] == 1).all()
    # A threshold above every margin but the wide one leaves the noise-level pixels to their
    # nearest decided neighbour.
    scores[:, :, 28:32] = rng.uniform(0, 1e-3, (2, 60, 4))
    assert (segment_decision(scores, threshold=0.5, fill="none")[:, :30] == 0).all()
    with pytest.raises(ValueError, match="fill"):
        segment_decision(scores, fill="everything")


def test_losses_follow_the_equations() -> None:
    sources = torch.rand(2, 3, 8, 8)
    masks = torch.zeros(2, 1, 8, 8)
    masks[0, :, :, :4] = 1
    masks[1, :, :, 4:] = 1
    chosen = (masks * sources).sum(dim=0, keepdim=True)
    # Eq. (22) with I_back in the second term: zero for the image made of the chosen parts.
    assert float(dfp.content_loss(chosen, sources, masks)) == 0.0
    assert float(dfp.content_loss(sources[:1], sources, masks)) > 0.0
    flat = torch.full((1, 1, 5, 5), 0.3)
    assert float(dfp.gradient_limit_loss(flat)) == 0.0
    assert torch.equal(dfp.laplacian(flat), torch.zeros_like(flat))
    joint = dfp.joint_laplacian_of(sources)
    strongest = dfp.laplacian(sources).abs().max(dim=0, keepdim=True).values
    assert torch.equal(joint.abs(), strongest)


def test_straight_through_binarisation_is_hard_forward_and_passes_gradients() -> None:
    logits = torch.randn(1, 3, 6, 6, requires_grad=True)
    maps = dfp.straight_through_one_hot(logits)
    assert set(maps.detach().unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(maps.detach().sum(dim=1), torch.ones(1, 6, 6))
    target = torch.zeros(1, 3, 6, 6)
    target[:, 0] = 1
    dfp.decision_loss(maps, target, torch.rand(1, 3, 6, 6)).backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1, 2, 3])  # 3: odd factors have their own Lanczos taps
def test_tiny_run_gives_the_right_size_range_and_is_seeded(scale: int) -> None:
    sources, _, _ = complementary_stack(2, color=True, height=24, width=32)
    stack = mfif.Stack.from_arrays(list(sources))
    fusion = mfif.create("dfp", scale=scale, **QUICK).fuse(stack)
    assert fusion.image.shape == (24 * scale, 32 * scale, 3)
    assert fusion.image.dtype == np.float32
    assert 0.0 <= fusion.image.min() and fusion.image.max() <= 1.0
    assert fusion.weights.shape == (2, 24 * scale, 32 * scale)
    np.testing.assert_allclose(fusion.weights.sum(axis=0), 1.0, atol=1e-5)
    again = mfif.create("dfp", scale=scale, **QUICK).fuse(stack)
    np.testing.assert_array_equal(again.image, fusion.image)
    other_seed = mfif.create("dfp", scale=scale, seed=1, **QUICK).fuse(stack)
    assert not np.array_equal(other_seed.image, fusion.image)


@pytest.mark.slow
def test_tiles_cover_a_larger_input_and_grey_works() -> None:
    sources, _, _ = complementary_stack(3, color=False, height=40, width=150)
    stack = mfif.Stack.from_arrays(list(sources[..., 0]))
    fusion = mfif.create("dfp", scale=2, tile=64, **QUICK).fuse(stack)
    assert fusion.image.shape == (80, 300, 1)
    assert np.isfinite(fusion.image).all()


@pytest.mark.slow
def test_a_short_fit_improves_on_fusion_then_interpolation_at_x2() -> None:
    """At ×2, on a pair made by the same Lanczos-2 downsampling, a short fit beats fusing at
    low resolution and enlarging by bicubic or Lanczos interpolation."""
    from mfif.metrics import psnr
    from mfif.resample import downsample
    from mfif.upscaling import UpscaledFuser

    sources, truth, _ = complementary_stack(2, color=False, height=64, width=64, sigma=2.0)
    low = mfif.Stack.from_arrays([np.clip(downsample(s, 2), 0, 1) for s in sources[..., 0]])
    fused = mfif.create("dfp", scale=2, embedding=False, iterations=150).fuse(low).image
    for interpolation in ("bicubic", "lanczos"):
        baseline = UpscaledFuser(mfif.create("guided-decision"), 2, interpolation)
        assert psnr(fused, truth) > psnr(baseline.fuse(low).image, truth) + 0.3


def test_options_are_checked() -> None:
    with pytest.raises(mfif.OptionError, match="kernel"):
        mfif.create("dfp", kernel=4)
    with pytest.raises(mfif.OptionError, match="scale"):
        mfif.create("dfp", scale=0)
    with pytest.raises(mfif.OptionError, match="input"):
        mfif.create("dfp", input="zeros")
    with pytest.raises(mfif.OptionError, match="degradation.*gaussian:SIGMA"):
        mfif.create("dfp", degradation="gauss:2")


@pytest.mark.slow
def test_the_degradation_option_is_the_model_the_fit_inverts() -> None:
    """Sources made by a lens blur before sampling: told that model, a short ×2 fit is closer to
    the truth than with the paper's Lanczos-2."""
    from mfif.metrics import psnr
    from mfif.resample import downsample

    sources, truth, _ = complementary_stack(2, color=False, height=64, width=64, sigma=2.0)
    low = [np.clip(downsample(s, 2, "gaussian:1.5"), 0, 1) for s in sources[..., 0]]
    stack = mfif.Stack.from_arrays(low)
    options = {"scale": 2, "embedding": False, "iterations": 100}
    told = mfif.create("dfp", degradation="gaussian:1.5", **options).fuse(stack).image
    paper = mfif.create("dfp", **options).fuse(stack).image
    assert psnr(told, truth) > psnr(paper, truth) + 1.0


@pytest.mark.slow
def test_cli_fuse_at_x2_writes_every_output_at_the_output_size(tmp_path: Path) -> None:
    sources, _, _ = complementary_stack(2, color=True, height=24, width=32)
    paths = []
    for k, source in enumerate(sources):
        paths.append(tmp_path / f"in{k}.png")
        mfif.save_image(paths[-1], source)
    options = ["--option", "scale=2"] + [f"--option={k}={v}" for k, v in QUICK.items()]
    code = main(
        ["fuse", *map(str, paths), "-m", "dfp", *options, "-o", str(tmp_path / "out.png"),
         "--weights", str(tmp_path / "w"), "--depth-index", str(tmp_path / "depth.png"),
         "--depth", str(tmp_path / "depth.tif"), "--report", str(tmp_path / "report.json"),
         "--align", "none"]
    )  # fmt: skip
    assert code == 0
    assert mfif.read_image(tmp_path / "out.png")[0].shape == (48, 64, 3)
    assert mfif.read_image(tmp_path / "depth.png")[0].shape[:2] == (48, 64)
    assert mfif.read_image(tmp_path / "depth-view.png")[0].shape[:2] == (48, 64)
    assert all(
        mfif.read_image(path)[0].shape[:2] == (48, 64) for path in (tmp_path / "w").iterdir()
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["size"] == [32, 24] and report["output_size"] == [64, 48]


@pytest.mark.slow
def test_bench_at_x2_scores_against_the_full_resolution_truth(tmp_path: Path) -> None:
    root = tmp_path / "data" / "toy"
    for k in range(2):
        sources, truth, _ = complementary_stack(2, color=True, height=48, width=66, seed=k)
        scene = root / f"scene{k}"
        scene.mkdir(parents=True)
        for name, image in zip(("A", "B", "GT"), (*sources, truth), strict=True):
            mfif.save_image(scene / f"{name}.png", image)
    out = tmp_path / "report"
    code = main(
        ["bench", str(tmp_path / "data"), "--out", str(out), "--scale", "2",
         "--methods", "guided-decision,maxgrad", "--metrics", "PSNR,SSIM,RMG"]
    )  # fmt: skip
    assert code == 0
    fused = sorted((out / "images" / "toy" / "scene0").iterdir())
    assert [p.stem for p in fused] == [
        "guided-decision+back-projection",
        "guided-decision+bicubic",
        "guided-decision+lanczos",
        "guided-decision+learned",
        "maxgrad+back-projection",
        "maxgrad+bicubic",
        "maxgrad+lanczos",
        "maxgrad+learned",
    ]
    assert all(mfif.read_image(p)[0].shape == (48, 66, 3) for p in fused)
    text = (out / "results.csv").read_text()
    assert "guided-decision+lanczos" in text and "RMG" in text
    # Sources blurred by a lens before sampling, the model told to back-projection.
    blurred = tmp_path / "blurred"
    command = ["bench", str(tmp_path / "data"), "--out", str(blurred), "--scale", "2",
               "--methods", "guided-decision", "--metrics", "PSNR", "--degradation",
               "gaussian:1.5"]  # fmt: skip
    assert main(command) == 0
    assert (
        "×2: each scene's sources downsampled by 2 (degradation gaussian:1.5)"
        in (blurred / "summary.md").read_text()
    )
    rows = (blurred / "results.csv").read_text().splitlines()
    header = rows[0].split(",")
    scores: dict[str, list[float]] = {}
    for row in rows[1:]:
        cells = dict(zip(header, row.split(","), strict=True))
        scores.setdefault(cells["method"], []).append(float(cells["PSNR"]))
    assert np.mean(scores["guided-decision+back-projection"]) > (
        np.mean(scores["guided-decision+lanczos"]) + 1.0
    )


def test_bench_refuses_a_degradation_without_a_scale(tmp_path: Path, capsys) -> None:
    command = ["bench", str(tmp_path), "--out", str(tmp_path / "o"), "--degradation", "box"]
    assert main(command) == 2
    assert "give --scale 2 or more" in capsys.readouterr().err
