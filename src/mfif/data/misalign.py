"""Misaligned stacks with exact ground truth: focus breathing, drift, rotation, exposure flicker.

A real stack's frames differ by magnification (breathing), a few pixels of drift, a fraction of
a degree of rotation and a little exposure. `misalign` applies such motions to rendered sources
so that alignment can be scored against the truth: the reference (middle) frame is not moved,
and the ground truth is the sharp image in its coordinates, cropped to the region every frame
covers. The motions are recorded, so "perfect alignment" (the known transforms undone) can be
measured too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..align import Alignment, FrameTransform
from ..warp import largest_rectangle

__all__ = ["Misalignment", "misalign", "known_alignment"]


@dataclass(frozen=True)
class Misalignment:
    """How much to move the frames of a stack.

    Attributes
    ----------
    breathing : float
        Largest scale change from the first to the last frame, in percent: drawn per scene
        between a quarter of it and all of it, with a random sign (so 8 gives 2-8 %); linear in
        focus order, the reference frame keeps scale 1.
    shift : float
        Largest drift of a frame, in pixels (uniform in a square).
    rotation : float
        Largest rotation of a frame, in degrees.
    gain : float
        Largest exposure change of a frame, in percent (one gain for all channels).
    """

    breathing: float = 0.0
    shift: float = 0.0
    rotation: float = 0.0
    gain: float = 0.0

    @property
    def active(self) -> bool:
        return any((self.breathing, self.shift, self.rotation, self.gain))


def _motion(scale: float, degrees: float, shift: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Reference coordinates -> frame coordinates, scaling and rotating about the centre."""
    angle = np.deg2rad(degrees)
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre + shift - linear @ centre
    return matrix


def misalign(
    sources: Sequence[np.ndarray],
    truth: np.ndarray,
    settings: Misalignment,
    rng: np.random.Generator,
) -> tuple[list[np.ndarray], np.ndarray, dict]:
    """Move every source but the middle one, and crop the truth to the covered region.

    Parameters
    ----------
    sources : sequence of ndarray of shape (H, W[, C]), float32 in [0, 1]
        Rendered frames in focus order, registered to ``truth``.
    truth : ndarray of shape (H, W[, C])
    settings : Misalignment
    rng : numpy.random.Generator

    Returns
    -------
    frames : list of ndarray
        The moved frames, same size as the sources (outside the scene: mirrored pixels, which
        the cropped ground truth never looks at).
    truth : ndarray
        The ground truth cropped to the region every frame covers.
    record : dict
        ``reference``, ``matrices`` (reference -> frame, 3x3 lists), ``gains`` and ``crop``
        ([top, left, height, width] of the region in the reference frame).
    """
    count = len(sources)
    reference = count // 2
    height, width = truth.shape[:2]
    centre = np.array([width / 2, height / 2])
    breathing = rng.uniform(settings.breathing / 4, settings.breathing) * rng.choice([-1.0, 1.0])
    frames, matrices, gains = [], [], []
    covered = np.ones((height, width), bool)
    for k, source in enumerate(sources):
        position = (k - reference) / max(count - 1, 1)  # -0.5 .. 0.5 across the sweep
        if k == reference:
            matrix, gain = np.eye(3), 1.0
        else:
            scale = 1.0 + breathing / 100.0 * position
            degrees = rng.uniform(-settings.rotation, settings.rotation)
            shift = rng.uniform(-settings.shift, settings.shift, size=2)
            matrix = _motion(scale, degrees, shift, centre)
            gain = 1.0 + rng.uniform(-settings.gain, settings.gain) / 100.0
        # frame(M x) = scene(x): warpAffine maps forward.
        moved = cv2.warpAffine(
            source,
            matrix[:2],
            (width, height),
            flags=cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REFLECT,
        ).reshape(source.shape)
        frames.append(np.clip(moved * gain, 0.0, 1.0).astype(np.float32))
        inside = cv2.warpAffine(
            np.ones((height, width), np.float32),
            np.linalg.inv(matrix)[:2],
            (width, height),
            flags=cv2.INTER_LINEAR,
        )
        covered &= inside >= 0.999
        matrices.append(matrix)
        gains.append(gain)
    top, left, crop_height, crop_width = largest_rectangle(covered)
    record = {
        "breathing_percent": round(float(breathing), 6),
        "reference": reference,
        "matrices": [np.round(m, 10).tolist() for m in matrices],
        "gains": [round(float(g), 8) for g in gains],
        "crop": [top, left, crop_height, crop_width],
    }
    cropped = truth[top : top + crop_height, left : left + crop_width]
    return frames, np.ascontiguousarray(cropped), record


def known_alignment(record: dict, shape: tuple[int, int], channels: int) -> Alignment:
    """The alignment that undoes a `misalign` record exactly ("perfect alignment")."""
    frames = tuple(
        FrameTransform(np.asarray(m, float), tuple([1.0 / g] * channels))
        for m, g in zip(record["matrices"], record["gains"], strict=True)
    )
    return Alignment("affine", int(record["reference"]), shape, frames)
