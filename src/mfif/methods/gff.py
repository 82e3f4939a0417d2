"""Guided-filtering fusion (GFF).

Li, Kang & Hu, IEEE TIP 22(7), 2013, doi:10.1109/TIP.2013.2244222.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..decision import RunningWinner, guided_filter
from ..focus import laplacian_energy
from ..frames import FrameSource
from ..fusion import Fuser, Fusion, WeightsCallback
from ..options import Option
from .registry import register

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

    def fuse_frames(
        self,
        frames: FrameSource,
        *,
        keep_weights: bool = True,
        on_weights: WeightsCallback | None = None,
    ) -> Fusion:
        """`Fuser.fuse_frames`: from disk, frames read three times each (saliency; weight
        totals; blend; the first two their luminance only; a resampled frame's saliency, made
        in its own coordinates, reads its luminance once more in the second), holding a few
        full-size planes whatever the number of frames; in memory, each plane made once.
        ``Fusion.weights`` and ``on_weights`` get the detail weights.
        """
        count, height, width, channels = frames.shape
        # Luminance planes only (one plane instead of C from disk); the saliency is made the
        # same way each time, so that it compares with the best as the same number.
        luma_of = frames.luminance
        # In memory the planes of each pass are kept for the next (as many as the stack
        # already holds); from disk they are made again, so memory stays a few planes.
        in_memory = frames.array is not None
        saliencies: dict[int, np.ndarray] = {}
        refined: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        def saliency_of(k: int, luma: np.ndarray | None = None) -> np.ndarray:
            # In the frame's own coordinates, the map resampled: the Laplacian of resampled
            # frames favoured the reference (36-56 % of the ring and zig stacks, 5-10 %
            # without alignment), the one frame resampling does not soften.
            return frames.measured(k, _saliency, (width, height), luma)[0]

        winner = RunningWinner(labels=False, ties=True)
        for k in range(count):  # eqs. (4), (5): the winner, ties shared
            saliency = saliency_of(k)
            winner.update(k, saliency)
            if in_memory:
                saliencies[k] = saliency

        def weights_of(k: int) -> tuple[np.ndarray, np.ndarray]:
            if k in refined:
                return refined.pop(k)
            luma = luma_of(k)
            saliency = saliencies.pop(k) if k in saliencies else saliency_of(k, luma)
            decision = (saliency == winner.best).astype(np.float32) / winner.ties
            return self._refined(luma, decision)

        totals = [np.zeros((height, width), np.float32) for _ in range(2)]
        for k in range(count):
            layers = weights_of(k)
            for total, weight in zip(totals, layers, strict=True):
                total += np.maximum(weight, 0.0)
            if in_memory:
                refined[k] = layers
        empty = [total <= 1e-12 for total in totals]  # as `normalise_weights`
        for total, nothing in zip(totals, empty, strict=True):
            total[nothing] = count
        fused = np.zeros((height, width, channels), np.float32)
        kept = np.empty((count, height, width), np.float32) if keep_weights else None
        for k in range(count):
            normalised = []
            layers = weights_of(k)
            for weight, total, nothing in zip(layers, totals, empty, strict=True):
                weight = np.maximum(weight, 0.0)
                weight[nothing] = 1.0
                normalised.append(weight / total)
            del layers
            # The frame is read after the filtering: one full-size frame less in memory while
            # it runs. Copies read from disk are ours: the detail may replace it.
            frame = frames[k]
            fused += self._layers(frame, *normalised, scratch=frames.reads_are_copies)
            del frame
            if kept is not None:
                kept[k] = normalised[1]
            if on_weights is not None:
                on_weights(k, normalised[1])
        return Fusion(image=np.clip(fused, 0.0, 1.0), weights=kept)

    def _refined(self, luma: np.ndarray, decision: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eq. (6): the base and detail weights of one source, its decision guided by itself."""
        base = guided_filter(luma, decision, radius=self.base_radius, eps=self.base_eps)
        detail = guided_filter(luma, decision, radius=self.detail_radius, eps=self.detail_eps)
        return base, detail

    def _layers(
        self,
        image: np.ndarray,
        base_weight: np.ndarray,
        detail_weight: np.ndarray,
        *,
        scratch: bool = False,
    ) -> np.ndarray:
        """Eqs. (1), (2), (7), (8): one source's weighted base and detail layers; ``scratch``:
        ``image`` may be overwritten (one full-size plane less)."""
        size = (self.average_size, self.average_size)
        base = cv2.blur(image, size, borderType=cv2.BORDER_REFLECT).reshape(image.shape)
        detail = np.subtract(image, base, out=image if scratch else None)
        # In place: two full-size planes of C channels instead of five.
        base *= base_weight[..., None]
        detail *= detail_weight[..., None]
        base += detail
        return base


def _saliency(luma: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    """Eq. (4) of a luminance (H, W), at ``size`` (width, height)."""
    saliency = laplacian_energy(luma[None], sigma=5.0, radius=5)[0]
    if saliency.shape[::-1] != tuple(size):
        saliency = cv2.resize(saliency, size, interpolation=cv2.INTER_AREA)
    return [saliency]
