"""A fusion method followed by enlargement: the baselines of the super-resolution benchmark
(``mfif bench --scale S``), "<method>+bicubic", "<method>+lanczos" and
"<method>+back-projection"."""

from __future__ import annotations

import cv2
import numpy as np

from ..fusion import Fuser, Fusion, WholeStackFuser
from ..resample import back_projected_upsample, check_degradation
from ..stack import Stack

__all__ = ["INTERPOLATIONS", "UpsampledFuser", "benchmark_pipelines"]

# OpenCV's bicubic (a = -0.75) and Lanczos (8x8 taps, a = 4) interpolations, and Lanczos
# followed by back-projection onto the degradation (`back_projected_upsample`; its weight maps
# are enlarged by Lanczos).
INTERPOLATIONS = {
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
    "back-projection": cv2.INTER_LANCZOS4,
}


class UpsampledFuser(WholeStackFuser):
    """``inner`` fuses at the stack's size, then its image (and weights) are enlarged ``scale``
    times by ``interpolation``.

    Parameters
    ----------
    inner : Fuser
    scale : int
        >= 2.
    interpolation : {"bicubic", "lanczos", "back-projection"}
    degradation : str
        The model the sources were made by, which back-projection inverts
        (`mfif.resample.DEGRADATIONS`).
    """

    summary = "a fusion method, then interpolation ×s"

    def __init__(
        self, inner: Fuser, scale: int, interpolation: str, degradation: str = "lanczos2"
    ) -> None:
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}")
        self.inner = inner
        self.degradation = check_degradation(degradation)
        self.scale = scale
        self.interpolation = interpolation
        self.name = f"{inner.name}+{interpolation}"  # type: ignore[misc]
        self.produces_weights = inner.produces_weights  # type: ignore[misc]
        self.parameter_count = inner.parameter_count  # type: ignore[misc]

    def fuse_stack(self, stack: Stack) -> Fusion:
        fusion = self.inner.fuse(stack)
        if self.interpolation == "back-projection":
            image = back_projected_upsample(fusion.image, self.scale, degradation=self.degradation)
        else:
            image = self._enlarge(fusion.image)
        weights = None
        if fusion.weights is not None:
            weights = np.stack(
                [self._enlarge(plane[..., None])[..., 0] for plane in fusion.weights]
            )
            weights /= np.maximum(weights.sum(axis=0, keepdims=True), 1e-12)
        return Fusion(image=image, weights=weights)

    def _enlarge(self, image: np.ndarray) -> np.ndarray:
        """(h, w, C) -> (s·h, s·w, C), clipped to [0, 1]."""
        height, width = image.shape[:2]
        size = (width * self.scale, height * self.scale)
        enlarged = cv2.resize(image, size, interpolation=INTERPOLATIONS[self.interpolation])
        return np.clip(enlarged.reshape(size[1], size[0], -1), 0.0, 1.0)


def benchmark_pipelines(
    methods: list[str], align: str, scale: int, degradation: str = "lanczos2"
) -> dict:
    """One pipeline per benchmarked method; with ``scale`` > 1, a super-resolving method runs
    with ``scale`` and ``degradation`` and every other one three times, followed by bicubic,
    by Lanczos and by Lanczos back-projected onto ``degradation`` ×scale."""
    from ..methods import create
    from ..pipeline import Pipeline

    pipelines = {}
    for name in methods:
        if scale == 1:
            pipelines[name] = Pipeline(name, align=align)
            continue
        fuser = create(name)
        if "scale" in fuser.options:
            options = {"scale": scale, "degradation": degradation}
            pipelines[name] = Pipeline(name, options, align=align)
            continue
        for interpolation in INTERPOLATIONS:
            upsampled = UpsampledFuser(fuser, scale, interpolation, degradation)
            pipelines[upsampled.name] = Pipeline(upsampled, align=align)
    return pipelines
