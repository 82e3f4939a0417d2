"""Decision-map tools: small-region removal and guided refinement of a decision map."""

from __future__ import annotations

import numpy as np
import pytest

from mfif.decision import one_hot, refine_labels, remove_small_regions


def _half_and_half(height: int = 64, width: int = 80) -> tuple[np.ndarray, np.ndarray]:
    labels = np.zeros((height, width), np.int32)
    labels[:, width // 2 :] = 1
    rng = np.random.default_rng(0)
    luma = rng.random((2, height, width)).astype(np.float32)
    return labels, luma


def test_remove_small_regions_hands_specks_to_their_surroundings() -> None:
    labels, _ = _half_and_half()
    speckled = labels.copy()
    speckled[10:12, 5:7] = 1  # a 4-pixel island of source 1 inside source 0
    cleaned = remove_small_regions(speckled, 2, min_area=10)
    np.testing.assert_array_equal(cleaned, labels)
    kept = remove_small_regions(speckled, 2, min_area=4)
    np.testing.assert_array_equal(kept, speckled)


def test_refine_labels_is_one_hot_away_from_boundaries_and_sums_to_one() -> None:
    labels, luma = _half_and_half()
    weights = refine_labels(labels, luma, radius=3, eps=1e-3)
    assert weights.shape == (2, 64, 80) and weights.dtype == np.float32
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-6)
    assert weights.min() >= 0.0 and weights.max() <= 1.0
    far = np.r_[0:30, 50:80]  # columns more than a filter window from the boundary at 40
    np.testing.assert_allclose(weights[:, :, far], one_hot(labels, 2)[:, :, far], atol=1e-5)
    assert 0.0 < weights[0, :, 38:42].mean() < 1.0  # soft only near the boundary


@pytest.mark.parametrize("count", [2, 3])
def test_blend_reproduces_a_source_exactly_enough_for_16_bits(count: int) -> None:
    from mfif.fusion import blend

    rng = np.random.default_rng(0)
    images = rng.random((count, 20, 30, 3), np.float32)
    images[0, :5] = 1.0  # white must stay 65535
    labels = rng.integers(0, count, (20, 30))
    labels[:5] = 0
    weights = (labels[None] == np.arange(count)[:, None, None]).astype(np.float32)
    fused = blend(images, weights)
    expected = np.take_along_axis(images, labels[None, ..., None], axis=0)[0]
    assert np.abs(fused * 65535 - expected * 65535).max() < 0.01
    assert np.all(np.round(fused[:5] * 65535) == 65535)
