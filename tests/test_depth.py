"""Depth from focus (`mfif.depth`, ``mfif fuse --depth``): the focus position between frames
on a stack with known depth, confidence where there is texture, and the files written."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

import mfif
from mfif.depth import depth_colours, estimate_depth, shaded_relief
from mfif.frames import ArrayFrames
from mfif.stack import Stack

from conftest import sharp_image

HEIGHT, WIDTH, COUNT = 96, 200, 5


def slanted_stack() -> tuple[Stack, np.ndarray]:
    """A textured plane whose depth grows from left to right: column x is sharpest at frame
    position 4x/(W-1); each frame is blurred in proportion to the distance (in frames) to
    its own focus position. Returns the stack and the true position per column."""
    scene = sharp_image(HEIGHT, WIDTH, color=False, seed=11).reshape(HEIGHT, WIDTH)
    truth = np.linspace(0, COUNT - 1, WIDTH)
    blurred = [
        cv2.GaussianBlur(scene, (0, 0), s) if s > 0 else scene for s in np.arange(0, 9) * 0.6
    ]
    frames = []
    for k in range(COUNT):
        distance = np.abs(truth - k) * 2  # in steps of 0.6 px of blur
        low = np.floor(distance).astype(int).clip(0, 7)
        part = (distance - low).clip(0, 1)
        frame = np.empty_like(scene)
        for column in range(WIDTH):
            a, b = blurred[low[column]][:, column], blurred[low[column] + 1][:, column]
            frame[:, column] = a * (1 - part[column]) + b * part[column]
        frames.append(frame)
    return Stack(images=np.stack(frames)[..., None].astype(np.float32)), truth


def test_the_focus_position_is_found_between_frames() -> None:
    stack, truth = slanted_stack()
    found = estimate_depth(ArrayFrames(stack))
    assert found.depth.shape == (HEIGHT, WIDTH) and found.depth.dtype == np.float32
    inner = slice(12, HEIGHT - 12), slice(12, WIDTH - 12)
    error = np.abs(found.depth - truth[None, :])[inner]
    index_error = np.abs(found.index - truth[None, :])[inner]
    assert np.mean(error) < 0.2  # sub-frame
    assert np.mean(error) < 0.8 * np.mean(index_error)  # better than the winning index
    assert found.confidence[inner].mean() > 0.3


def test_flat_regions_have_no_confidence_and_take_their_neighbours_depth() -> None:
    stack, _ = slanted_stack()
    images = stack.images.copy()
    images[:, 30:66, 80:120] = 0.5  # a flat patch in every frame
    found = estimate_depth(ArrayFrames(Stack(images=images)))
    patch = found.confidence[40:56, 90:110]
    assert patch.mean() < 0.1 < found.confidence[40:56, 20:60].mean()
    around = np.concatenate(
        [found.depth[40:56, 60:75].ravel(), found.depth[40:56, 125:140].ravel()]
    )
    assert around.min() - 0.3 <= np.median(found.depth[40:56, 90:110]) <= around.max() + 0.3


def test_views_are_images_of_the_right_size() -> None:
    stack, _ = slanted_stack()
    found = estimate_depth(ArrayFrames(stack))
    colours = depth_colours(found)
    assert colours.shape == (HEIGHT, WIDTH, 3) and 0 <= colours.min() and colours.max() <= 1
    grey = np.full((HEIGHT, WIDTH, 3), 0.5, np.float32)
    relief = shaded_relief(found, grey)
    flat = shaded_relief(replace(found, depth=np.full_like(found.depth, 2.0)), grey)
    assert relief.shape == (HEIGHT, WIDTH, 3) and flat.std() < 1e-6
    assert abs(relief.mean() - flat.mean()) > 0.01  # the slope is lit


@pytest.mark.slow
def test_fuse_writes_the_depth_files(tmp_path: Path) -> None:
    stack, truth = slanted_stack()
    paths = [mfif.save_image(tmp_path / f"{k}.png", f) for k, f in enumerate(stack.images)]
    depth = tmp_path / "depth.tif"
    command = [
        sys.executable, "-m", "mfif", "fuse", *map(str, paths), "-o", str(tmp_path / "o.png"),
        "--align", "none", "--depth", str(depth), "--depth-preview", str(tmp_path / "3d.png"),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    values = tifffile.imread(depth)
    assert values.dtype == np.float32 and values.shape == (HEIGHT, WIDTH)
    assert np.mean(np.abs(values - truth[None, :])[12:-12, 12:-12]) < 0.25
    for name in ("depth-view.png", "depth-confidence.png", "3d.png"):
        assert cv2.imread(str(tmp_path / name)).shape[:2] == (HEIGHT, WIDTH)
