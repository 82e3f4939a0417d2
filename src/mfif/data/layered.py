"""`mfif synth layered`: an object in front of a background that no frame focuses, rendered with
occlusion-aware thin-lens defocus; the case where focus stacks grow halos.

Each scene has two layers: the object (an image inside its mask, with optional specular
highlights) at depth 0, and a darkened background (another image of the set) at depth 1. Frame
k of N focuses at depth k / N, so the object is sharp in the first frame and the background is
never sharp (its least blur is ``max_blur / N``). Each layer is blurred by its own disk (radius
``max_blur`` times its distance from the focus) and the layers are composited with the blurred
alpha, so a defocused object spreads over the background around it, as real lenses do:

    frame_k = blur(α·F, r_object) + (1 − blur(α, r_object)) · blur(B, r_background)

The ground truth is the sharp object over the background at its least blur. LABELS.png marks
the object (2) and the halo band (1): the background within the object's largest blur radius.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import OptionError
from ..io import read_image
from .camera import Capture
from .misalign import Misalignment
from .synth import (
    SOURCE_NAMES,
    check_common,
    check_render,
    companions,
    scene_rng,
    size_mismatch,
    synthesize_scenes,
)
from .synthetic import disk_kernel

__all__ = ["synthesize_layered", "render_layers", "LABEL_BACKGROUND", "LABEL_BAND", "LABEL_OBJECT"]

LABEL_BACKGROUND, LABEL_BAND, LABEL_OBJECT = 0, 1, 2


def render_layers(
    foreground: np.ndarray,
    alpha: np.ndarray,
    background: np.ndarray,
    *,
    planes: int,
    max_blur: float,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Frames, ground truth and labels of an object over a background (see the module).

    Parameters
    ----------
    foreground, background : ndarray of shape (H, W, C), float32 in [0, 1]
    alpha : ndarray of shape (H, W), float32 in [0, 1]
        The object's coverage.
    planes : int
        Frames N >= 2.
    max_blur : float
        Blur radius, in pixels, of a layer one depth unit from the focus.

    Returns
    -------
    frames : list of N ndarray of shape (H, W, C)
    truth : ndarray of shape (H, W, C)
    labels : ndarray of shape (H, W), uint8
    """
    covered = (alpha[..., None] * foreground).astype(np.float32)
    frames = []
    for k in range(planes):
        focus = k / planes
        object_radius, background_radius = max_blur * focus, max_blur * (1.0 - focus)
        spread_alpha = _blur(alpha[..., None], object_radius)
        frame = _blur(covered, object_radius) + (1.0 - spread_alpha) * _blur(
            background, background_radius
        )
        frames.append(np.clip(frame, 0.0, 1.0).astype(np.float32))
    least = _blur(background, max_blur / planes)
    truth = np.clip(covered + (1.0 - alpha[..., None]) * least, 0.0, 1.0).astype(np.float32)
    labels = np.full(alpha.shape, LABEL_BACKGROUND, np.uint8)
    inside = alpha > 0.5
    reach = int(np.ceil(max_blur * (planes - 1) / planes))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    labels[cv2.dilate(inside.astype(np.uint8), kernel).astype(bool)] = LABEL_BAND
    labels[inside] = LABEL_OBJECT
    return frames, truth, labels


def _blur(image: np.ndarray, radius: float) -> np.ndarray:
    """``image`` (H, W, C) through a disk of ``radius`` pixels (edges reflected)."""
    if radius < 0.5:
        return image
    blurred = cv2.filter2D(image, -1, disk_kernel(radius), borderType=cv2.BORDER_REFLECT)
    return blurred.reshape(image.shape)


def _highlights(
    foreground: np.ndarray, inside: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, list]:
    """Small saturated specular spots (Gaussian, σ 1-2.5 px) at random points of the object."""
    points = np.argwhere(inside)
    if count == 0 or len(points) == 0:
        return foreground, []
    height, width = inside.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    spots = []
    lit = foreground.copy()
    for _ in range(count):
        y, x = points[int(rng.integers(len(points)))]
        sigma = float(rng.uniform(1.0, 2.5))
        spot = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma * sigma))[..., None]
        lit = lit + (1.0 - lit) * spot * 1.2  # reaches white at the centre, then clipped
        spots.append({"y": int(y), "x": int(x), "sigma": round(sigma, 4)})
    return np.clip(lit, 0.0, 1.0).astype(np.float32), spots


def _layered_scene(
    image_path: Path,
    mask_path: Path,
    background_path: Path,
    rng: np.random.Generator,
    *,
    planes: int,
    max_blur: float,
    background_gain: float,
    highlights: int,
    transition: float,
):
    """One layered scene: (frames, truth, bit depth, manifest entry with its labels), or why
    it is skipped."""
    image, bit_depth = read_image(image_path)
    image = image if image.ndim == 3 else image[..., None]
    mask_image, _ = read_image(mask_path)
    inside = (mask_image if mask_image.ndim == 2 else mask_image.mean(axis=2)) > 0.5
    if inside.shape != image.shape[:2]:
        return size_mismatch("mask", inside, image)
    if not 0.01 <= inside.mean() <= 0.8:
        return f"object covers {inside.mean():.1%} of the image"
    other, _ = read_image(background_path)
    other = other if other.ndim == 3 else other[..., None]
    if other.shape[2] != image.shape[2]:
        return "the background image is grey and the object colour, or the other way round"
    size = (image.shape[1], image.shape[0])
    background = cv2.resize(other, size, interpolation=cv2.INTER_AREA).reshape(image.shape)
    background = (background * background_gain).astype(np.float32)
    alpha = inside.astype(np.float32)
    if transition > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), transition)
    foreground, spots = _highlights(image, inside, highlights, rng)
    frames, truth, labels = render_layers(
        foreground, alpha, background, planes=planes, max_blur=max_blur
    )
    entry = {
        "image": str(image_path),
        "mask": str(mask_path),
        "background": str(background_path),
        "object_fraction": round(float(inside.mean()), 6),
        "highlights": spots,
        "focus_depths": {n: round(k / planes, 6) for k, n in enumerate(SOURCE_NAMES[:planes])},
        "labels": labels,
    }
    return frames, truth, bit_depth, entry


def synthesize_layered(
    images: Sequence[str | os.PathLike],
    masks: str | os.PathLike,
    out: str | os.PathLike,
    *,
    planes: int = 3,
    max_blur: float = 8.0,
    background_gain: float = 0.5,
    highlights: int = 3,
    transition: float = 1.0,
    seed: int = 0,
    noise: float = 0.0,
    jpeg: int | None = None,
    limit: int | None = None,
    misalignment: Misalignment | None = None,
) -> dict:
    """Write layered scenes (see the module): OUT/<scene>/{A,B,...,GT,LABELS}.png and
    OUT/synth.json.

    Parameters
    ----------
    images : sequence of path-like
        Sharp images, folders or globs; each needs a mask with its stem in ``masks`` (non-zero
        = object). The background of a scene is the next image of the set (in name order).
    masks : path-like
    out : path-like
    planes : int
        Frames per scene, 2 to 26.
    max_blur : float
        Blur radius in pixels one depth unit from the focus (> 0, ≤ 100).
    background_gain : float
        The background's brightness factor (0 < gain ≤ 1): a dark background shows halos most.
    highlights : int
        Specular spots on the object (0 to 50).
    transition : float
        σ in pixels of the object's soft edge.
    seed, noise, jpeg, limit, misalignment
        As for `mfif.data.synth.synthesize_from_masks`.

    Returns
    -------
    dict
        The manifest written to ``OUT/synth.json``.
    """
    check_common(seed, limit)
    capture = Capture(noise, jpeg)
    check_render(planes=planes, max_blur=max_blur, transition=transition)
    if not (0 < background_gain <= 1):
        raise OptionError(f"background_gain must be > 0 and ≤ 1; got {background_gain}.")
    if not (0 <= highlights <= 50):
        raise OptionError(f"highlights must be from 0 to 50; got {highlights}.")
    pairs, skipped = companions(images, masks, "mask")
    if len(pairs) < 2:
        raise OptionError("Layered scenes need at least 2 images: one lends its background.")
    backgrounds = {scene: pairs[(k + 1) % len(pairs)][1] for k, (scene, _, _) in enumerate(pairs)}
    pairs = pairs[:limit] if limit else pairs

    def make_scene(scene: str, image_path: Path, mask_path: Path):
        return _layered_scene(
            image_path, mask_path, backgrounds[scene], scene_rng(seed, scene),
            planes=planes, max_blur=max_blur, background_gain=background_gain,
            highlights=highlights, transition=transition,
        )  # fmt: skip

    header = {
        "kind": "layered",
        "seed": seed,
        "parameters": {
            "planes": planes,
            "max_blur": max_blur,
            "background_gain": background_gain,
            "highlights": highlights,
            "transition": transition,
            "psf": "disk",
        },
    }
    return synthesize_scenes(Path(out), pairs, skipped, make_scene, header, misalignment, capture)
