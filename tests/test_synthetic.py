"""Depth-rendered synthetic stacks."""

from __future__ import annotations

import numpy as np
import pytest

from mfif.data.synthetic import (
    disk_kernel,
    fill_unknown_disparity,
    focus_planes,
    render_depth_stack,
)
from mfif.metrics import psnr

from conftest import sharp_image


@pytest.mark.parametrize("radius", [0.0, 0.5, 1.3, 4.0, 7.5])
def test_disk_kernel_is_normalised_and_round(radius: float) -> None:
    kernel = disk_kernel(radius)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-7)
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-7)


def test_in_focus_plane_is_exact_and_others_blur() -> None:
    image = sharp_image(color=True)
    disparity = np.where(np.arange(128) < 64, 10.0, 30.0)[None].repeat(96, axis=0)
    sources = render_depth_stack(image, disparity, [10.0, 30.0], blur_per_disparity=0.2)
    np.testing.assert_array_equal(sources[0][:, :56], image[:, :56])
    np.testing.assert_array_equal(sources[1][:, 72:], image[:, 72:])
    assert psnr(sources[0][:, 72:], image[:, 72:]) < 33
    assert psnr(sources[1][:, :56], image[:, :56]) < 33


def test_unknown_disparity_is_filled_from_neighbours() -> None:
    disparity = np.array([[0.0, 5.0, np.inf], [7.0, 0.0, 9.0]])
    filled = fill_unknown_disparity(disparity)
    assert np.all(filled > 0) and filled[0, 1] == 5.0 and filled[1, 2] == 9.0


def test_focus_planes_spread_over_the_depth_range() -> None:
    disparity = np.linspace(0, 100, 1001)
    np.testing.assert_allclose(focus_planes(disparity, 2), [25.0, 75.0])
