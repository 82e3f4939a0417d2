"""Focus measures: DFP's DoubleReblur and its spread-kernel estimate."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from mfif.focus import double_reblur, relative_blur_kernel


def _texture(size: int, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).random((size, size)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 0.8)


def test_spread_kernel_recovers_a_known_gaussian() -> None:
    sharp = _texture(256)
    blurred = ndimage.gaussian_filter(sharp, 2.0, mode="wrap")
    kernel = relative_blur_kernel(sharp, blurred, size=15)
    assert kernel.shape == (15, 15) and abs(float(kernel.sum()) - 1) < 1e-5
    coordinates = np.arange(15) - 7
    variance_x = float((kernel.sum(axis=0) * coordinates**2).sum())
    variance_y = float((kernel.sum(axis=1) * coordinates**2).sum())
    # sigma 2 px: variance 4 (the low-pass T and the crop take a little off).
    assert 3.0 < variance_x < 4.5 and 3.0 < variance_y < 4.5
    assert np.unravel_index(kernel.argmax(), kernel.shape) == (7, 7)


def test_double_reblur_picks_the_sharp_side_where_the_truth_says() -> None:
    scene = _texture(192, seed=1)
    blurred = cv2.GaussianBlur(scene, (0, 0), 2.5)
    left = np.zeros((192, 192), bool)
    left[:, :96] = True
    first = np.where(left, scene, blurred)  # sharp on the left
    second = np.where(left, blurred, scene)  # sharp on the right
    scores = double_reblur(np.stack([first, second]))
    assert scores.shape == (2, 192, 192) and scores.dtype == np.float32
    winner = scores.argmax(axis=0)
    inner = np.ones_like(left)
    inner[:, 88:104] = False  # the Gaussian window straddles the boundary there
    assert (winner[left & inner] == 0).mean() > 0.99
    assert (winner[~left & inner] == 1).mean() > 0.99
    # Symmetric: swapping the sources swaps the scores.
    swapped = double_reblur(np.stack([second, first]))
    np.testing.assert_allclose(swapped[::-1], scores, atol=1e-5)


def test_double_reblur_three_sources_and_flat_images() -> None:
    scene = _texture(96, seed=2)
    stack = np.stack([cv2.GaussianBlur(scene, (0, 0), s) if s else scene for s in (1.5, 0, 3)])
    winner = double_reblur(stack).argmax(axis=0)
    assert (winner[8:-8, 8:-8] == 1).mean() > 0.99
    flat = double_reblur(np.full((2, 32, 32), 0.5, np.float32))
    np.testing.assert_allclose(flat, 0, atol=1e-6)
