"""Any method's fusion at ``scale`` times the frames' size: its image enlarged by interpolation,
or by back-projection onto the model the frames were made by (`mfif.resample`), its weight maps
enlarged bilinearly. ``mfif fuse --upscale S``, the API's ``upscale=S`` and the baselines of the
super-resolution benchmark (``mfif bench --scale S``) are this class; DFP super-resolves by
itself (its ``scale`` option).

Fusing at the frames' size and then back-projecting (at ×2 from the learned start) comes within
0.01-0.05 dB of DFP's ×2 on held-out scenes, in a fraction of a second instead of tens (README,
"DFP").
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import OptionError
from .frames import FrameSource
from .fusion import Fuser, Fusion, WeightsCallback
from .resample import START_OF, back_projected_upsample, check_degradation

__all__ = [
    "INTERPOLATIONS",
    "UpscaledFuser",
    "check_upscaling",
    "default_enlargement",
    "interpolations_for",
    "upscaled",
]

# OpenCV's bicubic (a = -0.75) and Lanczos (8x8 taps, a = 4) interpolations, Lanczos followed
# by back-projection onto the degradation (`back_projected_upsample`), and the same from the
# learned ×2 start (`mfif.learned_start`; ×2 only).
INTERPOLATIONS = {
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
    "back-projection": cv2.INTER_LANCZOS4,
    "learned": cv2.INTER_LANCZOS4,
}


def interpolations_for(scale: int) -> list[str]:
    """The enlargements of `INTERPOLATIONS` that enlarge by ``scale``."""
    return [name for name in INTERPOLATIONS if name != "learned" or scale == 2]


def default_enlargement(scale: int) -> str:
    """The enlargement ``upscale=scale`` uses unless told another: back-projection from the
    learned start at ×2 (README, DFP, "The learned start"), from Lanczos-4 above."""
    return "learned" if scale == 2 else "back-projection"


class UpscaledFuser(Fuser):
    """``inner`` fuses at the frames' size, then its image is enlarged ``scale`` times.

    Weight maps are enlarged bilinearly, which keeps them non-negative and summing to 1, one
    map at a time as ``inner`` gives them: a method that streams its frames from disk still
    does. Named "<inner>+<interpolation>".

    Parameters
    ----------
    inner : Fuser
        A method that fuses at the frames' size.
    scale : int
        s >= 2.
    interpolation : {"back-projection", "learned", "bicubic", "lanczos"}
        How the image is enlarged: Lanczos interpolation then back-projection onto
        ``degradation`` (`mfif.resample.back_projected_upsample`), the same from the learned
        ×2 start (``scale`` 2 only), or interpolation alone.
    degradation : str
        The model the frames were made by from the scene at ``scale`` times their size, which
        back-projection inverts (`mfif.resample.DEGRADATIONS`).
    """

    summary = "a fusion method, then enlargement ×s"

    def __init__(
        self,
        inner: Fuser,
        scale: int,
        interpolation: str = "back-projection",
        degradation: str = "lanczos2",
    ) -> None:
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}")
        if isinstance(scale, bool) or int(scale) != scale or scale < 2:
            raise ValueError(f"the scale must be an integer of 2 or more, not {scale!r}")
        if interpolation not in interpolations_for(int(scale)):
            raise ValueError(f"the {interpolation} enlargement enlarges by 2, not by {scale}")
        self.inner = inner
        self.scale = int(scale)
        self.interpolation = interpolation
        self.degradation = check_degradation(degradation)
        # What the pipeline asks of a method is the inner method's.
        self.name = f"{inner.name}+{interpolation}"  # type: ignore[misc]
        for attribute in (
            "produces_weights", "needs_all_frames", "read_ahead", "rereads_frames",
            "parameter_count", "pretrained", "slow", "external",
        ):  # fmt: skip
            setattr(self, attribute, getattr(inner, attribute))

    def fuse_frames(
        self,
        frames: FrameSource,
        *,
        keep_weights: bool = True,
        on_weights: WeightsCallback | None = None,
    ) -> Fusion:
        """``inner``'s fusion of ``frames`` (N, H, W, C), enlarged: image (s·H, s·W, C) in
        [0, 1], weights (N, s·H, s·W) when kept; ``on_weights`` gets each enlarged map."""
        enlarged_maps = None
        if on_weights is not None:

            def enlarged_maps(k: int, weight: np.ndarray) -> None:
                on_weights(k, self._enlarged_weight(weight))

        fusion = self.inner.fuse_frames(frames, keep_weights=keep_weights, on_weights=enlarged_maps)
        image = fusion.image
        if self.interpolation in START_OF:
            image = back_projected_upsample(
                image,
                self.scale,
                degradation=self.degradation,
                start=START_OF[self.interpolation],
            )
        else:
            height, width = image.shape[:2]
            size = (width * self.scale, height * self.scale)
            image = cv2.resize(image, size, interpolation=INTERPOLATIONS[self.interpolation])
            image = np.clip(image.reshape(size[1], size[0], -1), 0.0, 1.0)
        weights = None
        if fusion.weights is not None:
            weights = np.stack([self._enlarged_weight(plane) for plane in fusion.weights])
        return Fusion(image=image, weights=weights)

    def _enlarged_weight(self, weight: np.ndarray) -> np.ndarray:
        """(H, W) -> (s·H, s·W) bilinearly: each output pixel the same convex combination of
        every map, so the maps still sum to 1."""
        height, width = weight.shape
        size = (width * self.scale, height * self.scale)
        return cv2.resize(weight, size, interpolation=cv2.INTER_LINEAR)


def check_upscaling(scale: int, degradation: str, enlargement: str | None = None) -> None:
    """Refuse, in one sentence, a bad upscaling factor, an unknown degradation model or
    enlargement, or either given without a factor to apply it to.

    Raises
    ------
    OptionError
    """
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise OptionError(f"The upscaling factor must be an integer of 1 or more; got {scale!r}.")
    try:
        check_degradation(degradation)
    except ValueError as error:
        raise OptionError(f"The degradation model: {error}.") from None
    if scale == 1 and degradation != "lanczos2":
        raise OptionError(
            "A degradation model says how the frames were made smaller: it needs an "
            "upscaling factor of 2 or more."
        )
    if enlargement is None:
        return
    if scale == 1:
        raise OptionError("An enlargement needs an upscaling factor of 2 or more.")
    if enlargement not in interpolations_for(int(scale)):
        raise OptionError(
            f"The enlargement must be one of {', '.join(interpolations_for(int(scale)))} at "
            f"×{scale}; got {enlargement!r}."
        )


def upscaled(
    fuser: Fuser,
    scale: int,
    degradation: str = "lanczos2",
    enlargement: str | None = None,
) -> Fuser:
    """``fuser`` made to return its fusion ``scale`` times larger: itself at scale 1, else
    enlarged by ``enlargement`` (default `default_enlargement`), back-projected onto
    ``degradation`` (`UpscaledFuser`). A method that
    super-resolves by itself (``super_resolves``: dfp) is refused here: give it its own
    ``scale`` and ``degradation`` options (`mfif.pipeline.Pipeline` does, for a method given by
    name).

    Raises
    ------
    OptionError
        A bad scale or degradation (`check_upscaling`), or a method with its own.
    """
    check_upscaling(scale, degradation, enlargement)
    if scale == 1:
        return fuser
    if fuser.super_resolves:
        raise OptionError(
            f"The method {fuser.name!r} super-resolves by itself: give it its options scale "
            f"and degradation instead."
        )
    return UpscaledFuser(fuser, int(scale), enlargement or default_enlargement(scale), degradation)
