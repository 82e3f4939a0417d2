"""Guided-filtering fusion (GFF).

Li, Kang & Hu, IEEE TIP 22(7), 2013, doi:10.1109/TIP.2013.2244222.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..color import luminance
from ..decision import guided_filter, normalise_weights, winner_take_all
from ..focus import laplacian_energy
from ..fusion import Fuser, Fusion
from ..options import Option
from ..stack import Stack
from . import register

__all__ = ["GuidedFilterFuser"]


@register
class GuidedFilterFuser(Fuser):
    """Two-scale fusion whose base and detail weights are guided-filtered saliency decisions.

    Each source splits into a base layer (31x31 mean filter, eq. (1)) and a detail layer (eq. (2)).
    Saliency is the Gaussian-smoothed absolute Laplacian (eq. (4)); the winner-take-all map
    (eq. (5)) is guided-filtered with the source as guide, coarsely for the base and finely for
    the detail layer (eq. (6)); weights are normalised to sum to 1 and the two layers are
    recombined (eqs. (7), (8)). The guide is the source's luminance; the paper uses the colour
    image for colour inputs.

    Parameters
    ----------
    base_radius, base_eps : int, float
        Guided filter for the base weights (paper: r1 = 45, ε1 = 0.3).
    detail_radius, detail_eps : int, float
        Guided filter for the detail weights (paper: r2 = 7, ε2 = 1e-6).
    average_size : int
        Mean filter size of the two-scale decomposition (paper: 31).

    Notes
    -----
    ``Fusion.weights`` are the detail-layer weights; the base layer uses smoother ones.
    """

    name = "gff"
    summary = "guided-filtering fusion (Li, Kang & Hu 2013), two-scale weights"
    produces_weights = True
    options = {
        "base_radius": Option("int", low=1, high=1000),
        "base_eps": Option("float", low=0, high=10, low_open=True),
        "detail_radius": Option("int", low=1, high=1000),
        "detail_eps": Option("float", low=0, high=10, low_open=True),
        "average_size": Option("int", low=1, high=1001),
    }

    def __init__(
        self,
        base_radius: int = 45,
        base_eps: float = 0.3,
        detail_radius: int = 7,
        detail_eps: float = 1e-6,
        average_size: int = 31,
    ) -> None:
        self.base_radius = base_radius
        self.base_eps = base_eps
        self.detail_radius = detail_radius
        self.detail_eps = detail_eps
        self.average_size = average_size

    def fuse(self, stack: Stack) -> Fusion:
        images = stack.images
        luma = luminance(images)
        decision = winner_take_all(laplacian_energy(luma, sigma=5.0, radius=5))  # eqs. (4), (5)
        base_weights = np.empty_like(decision)
        detail_weights = np.empty_like(decision)
        for k in range(stack.count):  # eq. (6), each decision guided by its own source
            base_weights[k] = guided_filter(
                luma[k], decision[k], radius=self.base_radius, eps=self.base_eps
            )
            detail_weights[k] = guided_filter(
                luma[k], decision[k], radius=self.detail_radius, eps=self.detail_eps
            )
        base_weights = normalise_weights(base_weights)
        detail_weights = normalise_weights(detail_weights)
        size = (self.average_size, self.average_size)
        fused = np.zeros(images.shape[1:], dtype=np.float32)
        for k, image in enumerate(images):
            base = cv2.blur(image, size, borderType=cv2.BORDER_REFLECT).reshape(
                image.shape
            )  # eq. (1)
            detail = image - base  # eq. (2)
            fused += (
                base_weights[k][..., None] * base + detail_weights[k][..., None] * detail
            )  # eqs. (7), (8)
        return Fusion(image=np.clip(fused, 0.0, 1.0), weights=detail_weights)
