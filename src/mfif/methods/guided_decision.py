"""mfif's refined decision map: focus measure -> winner -> consistency -> guided refinement.

Designed here as the classical default (see the README for the benchmark behind that choice).
"""

from __future__ import annotations

import numpy as np

from ..decision import (
    guided_filter,
    majority_filter,
    normalise_weights,
    remove_small_regions,
    winner_take_all,
)
from ..errors import OptionError
from ..focus import reblur_energy
from ..fusion import WeightedFuser, blend
from . import register

__all__ = ["GuidedDecisionFuser"]


@register
class GuidedDecisionFuser(WeightedFuser):
    """Decision-map fusion with consistency checks and guided-filter refinement.

    1. Focus measure: local energy of the detail a re-blur removes (`mfif.focus.reblur_energy`).
    2. Decision: the best-focused source per pixel.
    3. Consistency: a majority vote in a window, then regions smaller than a fraction of the
       image are handed to their surroundings.
    4. Refinement: the one-hot maps are guided-filtered with the luminance of the decision-fused
       image as guide, so weight transitions follow the real edges, and renormalised.

    Parameters
    ----------
    sigma : float
        Standard deviation of the re-blur in the focus measure, in pixels.
    focus_window : int
        Averaging window of the focus measure, in pixels.
    vote_window : int
        Window of the majority vote, in pixels.
    min_region : float
        Smallest region kept, as a fraction of the image area.
    radius : int
        Guided-filter radius, in pixels.
    eps : float
        Guided-filter regularisation; smaller follows edges more tightly.
    """

    name = "guided-decision"
    summary = "mfif's refined decision map: re-blur focus measure, consistency, guided filter"

    def __init__(
        self,
        sigma: float = 1.5,
        focus_window: int = 9,
        vote_window: int = 15,
        min_region: float = 0.002,
        radius: int = 4,
        eps: float = 1e-3,
    ) -> None:
        if focus_window < 1 or vote_window < 1 or radius < 1:
            raise OptionError("focus_window, vote_window and radius must be positive.")
        if not 0.0 <= min_region < 1.0:
            raise OptionError(f"min_region must be in [0, 1); got {min_region}.")
        self.sigma = sigma
        self.focus_window = focus_window
        self.vote_window = vote_window
        self.min_region = min_region
        self.radius = radius
        self.eps = eps

    def weights(self, luma: np.ndarray) -> np.ndarray:
        scores = reblur_energy(luma, sigma=self.sigma, window=self.focus_window)
        decision = majority_filter(winner_take_all(scores), window=self.vote_window)
        height, width = luma.shape[1:]
        min_area = int(self.min_region * height * width)
        if min_area > 1:
            decision = remove_small_regions(decision, min_area=min_area)
        guide = blend(luma[..., None], decision)[..., 0]
        # The filter is linear and keeps constants, so the last map is 1 minus the others.
        refined = np.empty_like(decision)
        # Large images: coefficients computed at 512 pixels or more on the short side.
        subsample = max(1, min(height, width) // 512)
        refined[:-1] = guided_filter(
            guide, decision[:-1], radius=self.radius, eps=self.eps, subsample=subsample
        )
        refined[-1] = 1.0 - refined[:-1].sum(axis=0)
        return normalise_weights(refined)
