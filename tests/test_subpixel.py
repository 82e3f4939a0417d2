"""Sub-pixel refinement of a similarity (`mfif.subpixel`): precise where ECC is biased towards
whole pixels, and harmless where there is nothing to refine on."""

from __future__ import annotations

import cv2
import numpy as np

from mfif.align import _corner_distance, estimate_alignment
from mfif.stack import Stack
from mfif.subpixel import refine_similarity

from conftest import sharp_image

HEIGHT, WIDTH = 240, 320


def similarity(scale: float, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    """3x3 about the image centre: template coordinates -> moving coordinates."""
    angle = np.deg2rad(degrees)
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([WIDTH / 2, HEIGHT / 2])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre + np.asarray(shift) - linear @ centre
    return matrix


def band(image: np.ndarray) -> np.ndarray:
    return (cv2.GaussianBlur(image, (0, 0), 0.7) - cv2.GaussianBlur(image, (0, 0), 4.0)).astype(
        np.float32
    )


def moved(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``image`` seen by a frame that ``matrix`` maps the reference into: frame(M x) = image(x)."""
    return cv2.warpAffine(
        image, matrix[:2], (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )


def test_a_known_similarity_is_refined_to_a_hundredth_of_a_pixel() -> None:
    scene = sharp_image(HEIGHT, WIDTH, color=False, seed=3)
    truth = similarity(1.012, 0.15, (1.37, -0.61))
    start = truth.copy()
    start[:2, 2] += (0.3, -0.25)  # a start as far off as ECC leaves it, and more
    start[:2, :2] *= 1.001
    fixed, moving = band(scene), band(moved(scene, truth))
    refined = refine_similarity(fixed, moving, start)
    assert _corner_distance(start, truth, HEIGHT, WIDTH) > 0.4
    assert _corner_distance(refined, truth, HEIGHT, WIDTH) < 0.01


def test_contrast_between_frames_does_not_move_it() -> None:
    scene = sharp_image(HEIGHT, WIDTH, color=False, seed=4)
    truth = similarity(0.995, -0.1, (-2.2, 0.8))
    fixed, moving = band(scene), 0.6 * band(moved(scene, truth)) + 0.01
    refined = refine_similarity(fixed, moving.astype(np.float32), truth)
    assert _corner_distance(refined, truth, HEIGHT, WIDTH) < 0.01


def test_nothing_to_hold_on_to_leaves_the_start() -> None:
    flat = np.zeros((HEIGHT, WIDTH), np.float32)
    start = similarity(1.01, 0.0, (0.5, 0.5))
    np.testing.assert_array_equal(refine_similarity(flat, flat, start), start)


def test_a_start_too_far_off_is_kept() -> None:
    """The refinement only polishes: a start several pixels off stays as it was."""
    scene = sharp_image(HEIGHT, WIDTH, color=False, seed=5)
    truth = similarity(1.0, 0.0, (0.0, 0.0))
    start = similarity(1.0, 0.0, (4.0, -3.0))
    fixed, moving = band(scene), band(moved(scene, truth))
    refined = refine_similarity(fixed, moving, start)
    assert _corner_distance(refined, start, HEIGHT, WIDTH) <= 1.0 + 1e-6


def test_registration_of_moved_copies_is_exact_to_a_hundredth_of_a_pixel() -> None:
    """Identical frames moved by known similarities: what is left is the method's own error
    (ECC alone leaves 0.02-0.04 px at the corners here, 0.07 px on the alignment benchmark's
    scenes)."""
    scene = sharp_image(HEIGHT, WIDTH, color=True, seed=6)
    motions = [
        similarity(1.021, 0.2, (2.3, -1.6)),
        np.eye(3),
        similarity(0.987, -0.1, (-1.45, 2.7)),
    ]
    stack = Stack(images=np.stack([moved(scene, m) for m in motions]).astype(np.float32))
    alignment, _ = estimate_alignment(stack, model="similarity")
    for found, true in zip(alignment.frames, motions, strict=True):
        assert _corner_distance(found.matrix, true, HEIGHT, WIDTH) < 0.01
