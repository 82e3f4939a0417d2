"""Maximal-gradient decision (UDPNet eq. (3)), generalised from 2 to N sources."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..decision import RunningWinner
from ..focus import gradient_magnitude
from ..frames import SourceLuminance
from ..fusion import WeightedFuser
from .registry import register

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

    def stream_weights(
        self,
        luma_of: SourceLuminance,
        count: int,
        shape: tuple[int, int],
        *,
        threads: int = 1,
    ) -> Iterator[np.ndarray]:
        """UDPNet eq. (3) for N sources (`mfif.decision.winner_take_all` of the gradient
        magnitudes), two reads per source: the best magnitude and how many sources reach it
        first, then each source's share."""
        winner = RunningWinner(labels=False, ties=True)
        for k in range(count):
            winner.update(k, gradient_magnitude(luma_of(k)[None])[0])
        for k in range(count):
            magnitude = gradient_magnitude(luma_of(k)[None])[0]
            yield (magnitude == winner.best).astype(np.float32) / winner.ties
