"""Downsampling under each degradation model against a direct evaluation of its definition,
and back-projection onto it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mfif.resample import (
    back_projected_upsample,
    check_degradation,
    degradation_kernel,
    downsample,
)


def _lanczos2(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 2, np.sinc(x) * np.sinc(x / 2), 0.0)


def _mirror(index: int, size: int) -> int:
    while index < 0 or index >= size:
        index = -index if index < 0 else 2 * (size - 1) - index
    return index


def _reference(
    image: np.ndarray, factor: int, weight: Callable[[np.ndarray], np.ndarray], reach: float
) -> np.ndarray:
    """Every output pixel as the normalised 2-D sum of ``weight`` (of the offset from its
    centre, in input pixels) over every input pixel within ``reach``."""
    height, width = image.shape
    out = np.zeros((height // factor, width // factor))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            centre_y, centre_x = (i + 0.5) * factor - 0.5, (j + 0.5) * factor - 0.5
            ys = np.arange(int(np.floor(centre_y - reach)), int(centre_y + reach) + 2)
            xs = np.arange(int(np.floor(centre_x - reach)), int(centre_x + reach) + 2)
            weights = np.outer(weight(ys - centre_y), weight(xs - centre_x))
            rows = [_mirror(y, height) for y in ys]
            columns = [_mirror(x, width) for x in xs]
            out[i, j] = (weights * image[np.ix_(rows, columns)]).sum() / weights.sum()
    return out


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_lanczos2_matches_the_definition(factor: int) -> None:
    image = np.random.default_rng(factor).random((24, 36))
    result = downsample(image, factor)
    assert result.shape == (24 // factor, 36 // factor) and result.dtype == np.float32
    expected = _reference(image, factor, lambda x: _lanczos2(x / factor), 2 * factor)
    np.testing.assert_allclose(result, expected, atol=1e-3)


@pytest.mark.parametrize("factor", [2, 3])
@pytest.mark.parametrize("sigma", [0.4, 1.6])
def test_gaussian_matches_the_definition(factor: int, sigma: float) -> None:
    image = np.random.default_rng(factor).random((24, 36))
    result = downsample(image, factor, f"gaussian:{sigma}")

    def gaussian(x: np.ndarray) -> np.ndarray:  # cut where the filter's taps end
        inside = np.abs(x) < max(3 * sigma, factor / 2) + 0.5
        return np.where(inside, np.exp(-0.5 * (x / sigma) ** 2), 0)

    expected = _reference(image, factor, gaussian, 3 * sigma + factor)
    np.testing.assert_allclose(result, expected, atol=1e-5)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_box_is_the_mean_of_each_block(factor: int) -> None:
    image = np.random.default_rng(factor).random((24, 36, 2))
    blocks = image.reshape(24 // factor, factor, 36 // factor, factor, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(downsample(image, factor, "box"), blocks, atol=1e-6)


@pytest.mark.parametrize("factor", [2, 3])
def test_bicubic_matches_pillow_away_from_the_border(factor: int) -> None:
    """Pillow's antialiased BICUBIC (Keys, a = −0.5, stretched by s) is the same filter; it
    renormalises cut-off taps at the border where mfif mirrors, so the border is left out."""
    image_module = pytest.importorskip("PIL.Image", reason="Pillow comes with scikit-image")
    image = np.random.default_rng(factor).random((48, 60)).astype(np.float32)
    size = (60 // factor, 48 // factor)
    pillow = np.asarray(image_module.fromarray(image, mode="F").resize(size, image_module.BICUBIC))
    result = downsample(image, factor, "bicubic")
    np.testing.assert_allclose(result[3:-3, 3:-3], pillow[3:-3, 3:-3], atol=1e-4)


@pytest.mark.parametrize("degradation", ["lanczos2", "bicubic", "box", "gaussian:1.2"])
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_taps_sum_to_one_and_keep_a_constant(degradation: str, factor: int) -> None:
    taps = degradation_kernel(degradation, factor)
    assert taps.size % 2 == factor % 2 and taps.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(taps, taps[::-1])  # centred
    flat = np.full((16 * factor, 8 * factor), 0.3)
    np.testing.assert_allclose(downsample(flat, factor, degradation), 0.3, atol=1e-6)


@pytest.mark.parametrize("degradation", ["lanczos2", "box", "gaussian:1.6"])
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_torch_matches_numpy_and_passes_gradients(degradation: str, factor: int) -> None:
    torch = pytest.importorskip("torch", reason="torch is the 'torch' extra")
    from mfif.resample import downsample_torch

    image = np.random.default_rng(0).random((2, 3, 24, 36))
    tensor = torch.tensor(image, requires_grad=True)
    result = downsample_torch(tensor, factor, degradation)
    expected = np.stack([[downsample(c, factor, degradation) for c in b] for b in image])
    np.testing.assert_allclose(result.detach().numpy(), expected, atol=1e-5)
    result.sum().backward()
    # The total weight is kept (taps sum to 1 per output).
    assert float(tensor.grad.sum()) == pytest.approx(image[0, 0].size * 6 / factor**2)
    if degradation == "lanczos2":  # every input pixel contributes
        assert (tensor.grad.abs() > 0).all()


def test_colour_bad_sizes_and_bad_names() -> None:
    image = np.random.default_rng(1).random((8, 12, 3)).astype(np.float32)
    result = downsample(image, 2)
    np.testing.assert_allclose(result[..., 1], downsample(image[..., 1], 2), atol=1e-6)
    one_channel = downsample(image[..., :1], 2)  # (H, W, 1) keeps its channel axis
    assert one_channel.shape == (4, 6, 1)
    np.testing.assert_array_equal(one_channel[..., 0], downsample(image[..., 0], 2))
    with pytest.raises(ValueError, match="multiples"):
        downsample(image, 5)
    with pytest.raises(ValueError, match="positive integer"):
        degradation_kernel("lanczos2", 0)
    for name in ("lanczos", "gaussian", "gaussian:", "gaussian:0", "gaussian:-1", "gaussian:x"):
        with pytest.raises(ValueError, match="lanczos2, bicubic, box or gaussian:SIGMA"):
            check_degradation(name)
    assert check_degradation("gaussian:0.8") == "gaussian:0.8"


def _textured_truth(seed: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    truth = cv2.GaussianBlur(rng.random((60, 72, 3)).astype(np.float32), (0, 0), 1.2)
    return (truth - truth.min()) / (truth.max() - truth.min())


@pytest.mark.parametrize("factor", [2, 3])
def test_back_projection_inverts_the_degradation_and_beats_interpolation(factor: int) -> None:
    """Downsampling the back-projected enlargement gives the small image back far more closely
    than Lanczos interpolation does, and it is closer to the truth the small image came from."""
    import cv2

    from mfif.metrics import psnr

    truth = _textured_truth(factor)
    small = np.clip(downsample(truth, factor), 0, 1)
    size = (truth.shape[1], truth.shape[0])
    interpolated = np.clip(cv2.resize(small, size, interpolation=cv2.INTER_LANCZOS4), 0, 1)
    enlarged = back_projected_upsample(small, factor)
    assert enlarged.shape == truth.shape and enlarged.dtype == np.float32
    assert 0.0 <= enlarged.min() and enlarged.max() <= 1.0
    residual = np.abs(downsample(enlarged, factor) - small).mean()
    assert residual < 0.2 * np.abs(downsample(interpolated, factor) - small).mean()
    assert psnr(enlarged, truth) > psnr(interpolated, truth) + 0.2
    grey = back_projected_upsample(small[..., 0], factor)
    assert grey.shape == truth.shape[:2]
    np.testing.assert_array_equal(back_projected_upsample(small, 1), small)


@pytest.mark.parametrize("degradation", ["box", "gaussian:1.5"])
def test_back_projection_onto_the_right_model_beats_the_paper_model(degradation: str) -> None:
    """Images made by another filter than Lanczos-2 are enlarged better by back-projection
    onto that filter than onto Lanczos-2."""
    from mfif.metrics import psnr

    truth = _textured_truth(7)
    small = np.clip(downsample(truth, 2, degradation), 0, 1)
    right = back_projected_upsample(small, 2, degradation=degradation)
    wrong = back_projected_upsample(small, 2, degradation="lanczos2")
    assert psnr(right, truth) > psnr(wrong, truth) + 0.3


def test_back_projection_from_another_start() -> None:
    """``start`` replaces the Lanczos-4 enlargement: given that enlargement it is the default,
    and back-projection pulls any start towards agreeing with the image."""
    import cv2

    rng = np.random.default_rng(4)
    low = cv2.GaussianBlur(rng.random((24, 32, 3), dtype=np.float32), (0, 0), 1.0)
    lanczos = cv2.resize(low, (64, 48), interpolation=cv2.INTER_LANCZOS4)
    np.testing.assert_array_equal(
        back_projected_upsample(low, 2, start=lanczos), back_projected_upsample(low, 2)
    )
    flat = np.full((48, 64, 3), 0.5, np.float32)
    assert np.array_equal(back_projected_upsample(low, 2, 0, start=flat), flat)
    pulled = back_projected_upsample(low, 2, start=flat)
    assert np.abs(downsample(pulled, 2) - low).mean() < np.abs(downsample(flat, 2) - low).mean()


def _shapes_truth() -> np.ndarray:
    """Flat shapes with sharp edges at every angle (a disc, a rotated square, a bar) over a
    faint texture: what interpolation rings and jags at."""
    import cv2

    rng = np.random.default_rng(11)
    truth = 0.4 + 0.03 * cv2.GaussianBlur(rng.random((96, 112)).astype(np.float32), (0, 0), 1.0)
    cv2.circle(truth, (34, 40), 21, 0.9, -1)
    square = cv2.boxPoints(((80, 62), (30, 30), 27)).astype(np.int32)
    cv2.fillConvexPoly(truth, square, 0.1)
    cv2.line(truth, (8, 88), (104, 78), 0.75, 3)
    return np.stack([truth, 1 - truth, 0.5 * truth], axis=-1)


@pytest.mark.parametrize("degradation", ["lanczos2", "box", "gaussian:1.2"])
def test_smoothing_the_enlargement_sharpens_edges_and_still_agrees(degradation: str) -> None:
    """Total-variation steps within back-projection bring sharp-edged shapes closer to the truth
    than back-projection alone, and the result still downsamples to the small image."""
    from mfif.metrics import psnr

    truth = _shapes_truth()
    small = np.clip(downsample(truth, 2, degradation), 0, 1)
    plain = back_projected_upsample(small, 2, degradation=degradation, smoothing=0)
    smoothed = back_projected_upsample(small, 2, degradation=degradation)
    assert psnr(smoothed, truth) > psnr(plain, truth) + 0.15
    disagreement = np.abs(downsample(smoothed, 2, degradation) - small).mean()
    assert disagreement < 0.002


def test_smoothing_off_is_back_projection_alone() -> None:
    """``smoothing=0``: Lanczos-4 interpolation and ``iterations`` back-projection steps,
    nothing more."""
    import cv2

    small = _shapes_truth()[::2, ::2].copy()
    result = cv2.resize(small, (112, 96), interpolation=cv2.INTER_LANCZOS4)
    for _ in range(2):
        residual = small - downsample(result, 2)
        result += cv2.resize(residual, (112, 96), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(
        back_projected_upsample(small, 2, 2, smoothing=0), np.clip(result, 0, 1)
    )


@pytest.mark.parametrize("rows", [1, 2, 5, 128])
def test_a_total_variation_step_is_its_formula_in_any_bands(monkeypatch, rows: int) -> None:
    """One step, u + τ div(∇u / sqrt(|∇u|² + ε²)) with forward differences and no flow across
    the borders, the same whichever bands of rows the cores take."""
    import mfif.resample
    from mfif.resample import _descend_total_variation

    monkeypatch.setattr(mfif.resample, "_STEP_ROWS", rows)
    rng = np.random.default_rng(3)
    for shape in [(37, 29, 3), (11, 8), (1, 6, 3)]:
        image = rng.random(shape).astype(np.float32)
        across = np.diff(image, axis=1, append=image[:, -1:])
        down = np.diff(image, axis=0, append=image[-1:])
        norm = np.sqrt(across**2 + down**2 + 0.03**2)
        flow_x, flow_y = across / norm, down / norm
        from_left = np.concatenate([np.zeros_like(flow_x[:, :1]), flow_x[:, :-1]], axis=1)
        from_above = np.concatenate([np.zeros_like(flow_y[:1]), flow_y[:-1]], axis=0)
        divergence = flow_x - from_left + flow_y - from_above
        expected = image + 0.01 * divergence
        _descend_total_variation(image, 0.01, 0.03)
        np.testing.assert_allclose(image, expected, atol=1e-6)
