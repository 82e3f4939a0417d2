"""Multi-resolution fusion: Laplacian pyramid (Burt & Adelson) and discrete wavelets.

Both choose each detail coefficient from the source whose luminance coefficient has the largest
magnitude ("max-abs"), and average the coarsest band. The choice made on luminance is applied to
every colour channel, so colour follows the same decisions.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from ..color import luminance
from ..decision import RunningWinner
from ..frames import FrameSource
from ..fusion import Fuser, Fusion, WeightsCallback
from ..options import Option
from .registry import register

__all__ = ["LaplacianPyramidFuser", "WaveletFuser"]


def _with_luminance(frame: np.ndarray) -> np.ndarray:
    """(H, W, C) -> (H, W, C + 1): Y is linear in RGB, so it goes through a linear transform
    as one more channel."""
    return np.concatenate([frame, luminance(frame)[..., None]], axis=-1)


class _RunningMaxAbs:
    """Per coefficient, the channels of the source whose luminance coefficient is largest in
    magnitude ("max-abs"), one source at a time; ties average."""

    def __init__(self) -> None:
        self.winner = RunningWinner(labels=False, ties=True)
        self.total: np.ndarray | None = None

    def update(self, coefficients: np.ndarray, luma_coefficients: np.ndarray) -> None:
        """coefficients (H, W, C), luma_coefficients (H, W) of one source."""
        magnitude = np.abs(luma_coefficients)
        if self.total is None:
            self.winner.update(0, magnitude)
            self.total = coefficients.astype(np.float32, copy=True)
            return
        tied = magnitude == self.winner.best
        better = self.winner.update(1, magnitude)
        self.total[better] = coefficients[better]
        self.total[tied] += coefficients[tied]

    def result(self) -> np.ndarray:
        return self.total / self.winner.ties[..., None]


def _discrete_wavelets() -> tuple[str, ...]:
    import pywt  # only when a wavelet name is checked: importing it costs start-up time

    return tuple(pywt.wavelist(kind="discrete"))


def _pyramid_levels(height: int, width: int, requested: int | None) -> int:
    # Stop while the coarsest level is still at least 8 pixels on its short side.
    possible = max(1, int(np.floor(np.log2(max(min(height, width), 8) / 8))) + 1)
    return possible if requested is None else max(1, min(requested, possible))


@register
class LaplacianPyramidFuser(Fuser):
    """Burt & Adelson Laplacian-pyramid fusion: max-abs details, averaged base.

    Parameters
    ----------
    levels : int, optional
        Number of pyramid levels including the base; by default as many as keep the base at
        least 8 pixels high and wide, at most 6.

    References
    ----------
    P. J. Burt and E. H. Adelson, "The Laplacian pyramid as a compact image code," IEEE Trans.
    Commun. 31(4), 1983. doi:10.1109/TCOM.1983.1095851
    """

    name = "laplacian-pyramid"
    summary = "Burt-Adelson Laplacian pyramid, max-abs details and averaged base"
    options = {"levels": Option("int", low=1, high=32, optional=True)}

    def __init__(self, levels: int | None = 6) -> None:
        self.levels = levels

    def fuse_frames(
        self,
        frames: FrameSource,
        *,
        keep_weights: bool = True,
        on_weights: WeightsCallback | None = None,
    ) -> Fusion:
        """`Fuser.fuse_frames`: frames read once each, their pyramids combined as they come,
        so memory does not grow with the number of frames (no weight maps)."""
        count, height, width = frames.shape[:3]
        levels = _pyramid_levels(height, width, self.levels)
        selections = [_RunningMaxAbs() for _ in range(levels - 1)]
        base = None
        for k in range(count):
            # One level at a time: a frame's whole pyramid is never held.
            for index, level in enumerate(_laplacian_levels(_with_luminance(frames[k]), levels)):
                if index < levels - 1:
                    selections[index].update(level[..., :-1], level[..., -1])
                elif base is None:
                    base = level[..., :-1].copy()
                else:
                    base += level[..., :-1]
        fused_levels = [selection.result() for selection in selections]
        fused_levels.append(base / np.float32(count))
        image = _collapse(fused_levels)
        return Fusion(image=np.clip(image, 0.0, 1.0).astype(np.float32))


def _laplacian_levels(image: np.ndarray, levels: int) -> Iterator[np.ndarray]:
    """The Laplacian pyramid of ``image`` (H, W, C), one level at a time, finest first, the
    coarsest last; ``image`` is overwritten (each detail level is computed in the place of the
    image it comes from)."""
    current = image
    for _ in range(levels - 1):
        smaller = _channels_last(cv2.pyrDown(current, borderType=cv2.BORDER_REFLECT_101), current)
        expanded = cv2.pyrUp(smaller, dstsize=(current.shape[1], current.shape[0]))
        detail = np.subtract(current, _channels_last(expanded, current), out=current)
        del expanded, current
        yield detail
        del detail
        current = smaller
    yield current


def _channels_last(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    # OpenCV drops a trailing axis of length 1.
    return image.reshape(image.shape[0], image.shape[1], like.shape[2])


def _collapse(pyramid: list[np.ndarray]) -> np.ndarray:
    current = pyramid[-1]
    for detail in reversed(pyramid[:-1]):
        expanded = cv2.pyrUp(current, dstsize=(detail.shape[1], detail.shape[0]))
        current = _channels_last(expanded, detail) + detail
    return current


@register
class WaveletFuser(Fuser):
    """Discrete wavelet transform fusion: max-abs detail coefficients, averaged approximation.

    Parameters
    ----------
    wavelet : str
        Any discrete wavelet known to PyWavelets.
    levels : int
        Decomposition levels (reduced when the image is too small).

    References
    ----------
    H. Li, B. S. Manjunath, S. K. Mitra, "Multisensor image fusion using the wavelet
    transform," Graphical Models and Image Processing 57(3), 1995. doi:10.1006/gmip.1995.1022
    """

    name = "dwt"
    summary = "discrete wavelet transform (PyWavelets), max-abs details and averaged approximation"
    options = {
        "wavelet": Option(
            "str",
            choices=_discrete_wavelets,
            allowed="a discrete wavelet of PyWavelets (haar, db1-db38, sym2-sym20, coif1-coif17, "
            "bior*, rbio*, dmey)",
        ),
        "levels": Option("int", low=1, high=32),
    }

    def __init__(self, wavelet: str = "db2", levels: int = 4) -> None:
        self.wavelet = wavelet
        self.levels = levels

    def fuse_frames(
        self,
        frames: FrameSource,
        *,
        keep_weights: bool = True,
        on_weights: WeightsCallback | None = None,
    ) -> Fusion:
        """`Fuser.fuse_frames`: frames read once each, their decompositions combined as they
        come (no weight maps)."""
        import pywt

        count, height, width = frames.shape[:3]
        wavelet = pywt.Wavelet(self.wavelet)
        levels = max(1, min(self.levels, pywt.dwtn_max_level((height, width), wavelet)))
        approximation = None
        selections: list[tuple[_RunningMaxAbs, ...]] = []
        for k in range(count):
            plane = _with_luminance(frames[k])
            coefficients = pywt.wavedec2(
                plane, wavelet, mode="symmetric", level=levels, axes=(0, 1)
            )
            del plane
            if approximation is None:
                approximation = np.zeros(coefficients[0].shape, np.float32)
                selections = [tuple(_RunningMaxAbs() for _ in d) for d in coefficients[1:]]
            approximation += coefficients[0]
            for running, details in zip(selections, coefficients[1:], strict=True):
                for selection, band in zip(running, details, strict=True):
                    selection.update(band[..., :-1], band[..., -1])
        fused = [(approximation / np.float32(count))[..., :-1]]
        fused += [tuple(selection.result() for selection in running) for running in selections]
        image = pywt.waverec2(fused, wavelet, mode="symmetric", axes=(0, 1))[:height, :width]
        return Fusion(image=np.clip(image, 0.0, 1.0).astype(np.float32))
