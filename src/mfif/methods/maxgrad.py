"""Maximal-gradient decision (UDPNet eq. (3)), generalised from 2 to N sources."""

from __future__ import annotations

import numpy as np

from ..decision import winner_take_all
from ..focus import gradient_magnitude
from ..fusion import WeightedFuser
from . import register

__all__ = ["MaxGradientFuser"]


@register
class MaxGradientFuser(WeightedFuser):
    """Each pixel comes from the source with the largest gradient magnitude there.

    UDPNet eq. (3) prints M_k = sgn(max(|∇S_1|, |∇S_2|) - |∇S_k|), which is 0 at the winner;
    the text ("the gradient of a focused pixel is usually larger") means the opposite, 1 at the
    winner, which is what we implement: M_k = 1 where |∇S_k| = max_j |∇S_j|. Ties share equally.
    This is the paper's noisy initial mask, kept as a baseline; it has no smoothing at all.
    """

    name = "maxgrad"
    summary = "pixel-wise maximal gradient decision (UDPNet eq. 3), no smoothing"

    def weights(self, luma: np.ndarray) -> np.ndarray:
        # UDPNet eq. (3), for N sources.
        return winner_take_all(gradient_magnitude(luma))
