"""Lanczos-2 downsampling against a direct evaluation of its definition."""

from __future__ import annotations

import numpy as np
import pytest

from mfif.resample import lanczos2_downsample, lanczos2_kernel


def _lanczos2(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 2, np.sinc(x) * np.sinc(x / 2), 0.0)


def _mirror(index: int, size: int) -> int:
    while index < 0 or index >= size:
        index = -index if index < 0 else 2 * (size - 1) - index
    return index


def _reference(image: np.ndarray, factor: int) -> np.ndarray:
    """Every output pixel as the normalised 2-D Lanczos-2 sum over its whole support."""
    height, width = image.shape
    out = np.zeros((height // factor, width // factor))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            centre_y, centre_x = (i + 0.5) * factor - 0.5, (j + 0.5) * factor - 0.5
            ys = np.arange(int(np.floor(centre_y - 2 * factor)), int(centre_y + 2 * factor) + 2)
            xs = np.arange(int(np.floor(centre_x - 2 * factor)), int(centre_x + 2 * factor) + 2)
            weights = np.outer(
                _lanczos2((ys - centre_y) / factor), _lanczos2((xs - centre_x) / factor)
            )
            rows = [_mirror(y, height) for y in ys]
            columns = [_mirror(x, width) for x in xs]
            out[i, j] = (weights * image[np.ix_(rows, columns)]).sum() / weights.sum()
    return out


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_matches_the_definition(factor: int) -> None:
    image = np.random.default_rng(factor).random((24, 36))
    result = lanczos2_downsample(image, factor)
    assert result.shape == (24 // factor, 36 // factor) and result.dtype == np.float32
    np.testing.assert_allclose(result, _reference(image, factor), atol=1e-3)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_torch_matches_numpy_and_passes_gradients(factor: int) -> None:
    torch = pytest.importorskip("torch", reason="torch is the 'torch' extra")
    from mfif.resample import lanczos2_downsample_torch

    image = np.random.default_rng(0).random((2, 3, 24, 36))
    tensor = torch.tensor(image, requires_grad=True)
    result = lanczos2_downsample_torch(tensor, factor)
    expected = np.stack([[lanczos2_downsample(c, factor) for c in b] for b in image])
    np.testing.assert_allclose(result.detach().numpy(), expected, atol=1e-5)
    result.sum().backward()
    # Every input pixel contributes, and the total weight is kept (taps sum to 1 per output).
    assert (tensor.grad.abs() > 0).all()
    assert float(tensor.grad.sum()) == pytest.approx(image[0, 0].size * 6 / factor**2)


def test_colour_and_bad_sizes() -> None:
    image = np.random.default_rng(1).random((8, 12, 3)).astype(np.float32)
    result = lanczos2_downsample(image, 2)
    np.testing.assert_allclose(result[..., 1], lanczos2_downsample(image[..., 1], 2), atol=1e-6)
    with pytest.raises(ValueError, match="multiples"):
        lanczos2_downsample(image, 5)
    with pytest.raises(ValueError, match="positive integer"):
        lanczos2_kernel(0)


def test_constant_is_kept() -> None:
    flat = np.full((16, 16), 0.3)
    np.testing.assert_allclose(lanczos2_downsample(flat, 4), 0.3, atol=1e-6)


@pytest.mark.parametrize("factor", [2, 3])
def test_back_projection_inverts_the_degradation_and_beats_interpolation(factor: int) -> None:
    """Downsampling the back-projected enlargement gives the small image back far more closely
    than Lanczos interpolation does, and it is closer to the truth the small image came from."""
    import cv2

    from mfif.metrics import psnr
    from mfif.resample import back_projected_upsample

    rng = np.random.default_rng(factor)
    truth = cv2.GaussianBlur(rng.random((60, 72, 3)).astype(np.float32), (0, 0), 1.2)
    truth = (truth - truth.min()) / (truth.max() - truth.min())
    small = np.clip(lanczos2_downsample(truth, factor), 0, 1)
    size = (truth.shape[1], truth.shape[0])
    interpolated = np.clip(cv2.resize(small, size, interpolation=cv2.INTER_LANCZOS4), 0, 1)
    enlarged = back_projected_upsample(small, factor)
    assert enlarged.shape == truth.shape and enlarged.dtype == np.float32
    assert 0.0 <= enlarged.min() and enlarged.max() <= 1.0
    residual = np.abs(lanczos2_downsample(enlarged, factor) - small).mean()
    assert residual < 0.2 * np.abs(lanczos2_downsample(interpolated, factor) - small).mean()
    assert psnr(enlarged, truth) > psnr(interpolated, truth) + 0.2
    grey = back_projected_upsample(small[..., 0], factor)
    assert grey.shape == truth.shape[:2]
    np.testing.assert_array_equal(back_projected_upsample(small, 1), small)
