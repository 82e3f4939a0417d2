"""Applying an alignment (`mfif.warp`): pixels resampled without softening or overshoot, and a
focus decision that does not favour the frame resampled least."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mfif.frames import ArrayFrames
from mfif.pipeline import Pipeline
from mfif.warp import AlignedFrames, Alignment, FrameTransform, resample

from conftest import sharp_image


def _shift(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def _similarity(scale: float, angle: float, x: float, y: float) -> np.ndarray:
    cosine, sine = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[cosine, -sine, x], [sine, cosine, y], [0.0, 0.0, 1.0]])


def _period_contrast(image: np.ndarray) -> float:
    """Amplitude of the 4-pixel period along the rows of (H, W) ``image``."""
    row = image[image.shape[0] // 2, 8:-8]
    phase = np.exp(-2j * np.pi * np.arange(row.size) / 4)
    return float(2 * abs(np.mean((row - row.mean()) * phase)))


def test_sharp_resampling_keeps_fine_detail_that_bilinear_softens() -> None:
    columns = np.arange(96, dtype=np.float32)
    stripes = 0.5 + 0.3 * np.cos(2 * np.pi * columns / 4)
    image = np.repeat(stripes[None, :, None], 32, axis=0)
    half_pixel = _shift(0.5, 0.0)
    bilinear = resample(image, half_pixel, (32, 95))[..., 0]
    sharp = resample(image, half_pixel, (32, 95), sharp=True)[..., 0]
    assert _period_contrast(bilinear) < 0.75 * 0.3  # cos(pi / 4) of it left
    assert _period_contrast(sharp) > 0.9 * 0.3


def test_sharp_resampling_does_not_overshoot_an_edge() -> None:
    image = np.full((40, 40, 1), 0.2, np.float32)
    image[:, 20:] = 0.9
    moved = resample(image, _similarity(1.03, 0.01, 0.37, -0.41), (36, 36), sharp=True)
    assert moved.min() >= 0.2 - 1e-6 and moved.max() <= 0.9 + 1e-6
    cubic = cv2.warpAffine(
        image, _similarity(1.03, 0.01, 0.37, -0.41)[:2], (36, 36),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    assert cubic.max() > 0.9 + 1e-3  # the kernel alone rings


def test_a_region_is_the_same_samples_as_the_whole_frame() -> None:
    image = sharp_image(90, 120, color=True)
    stack = np.stack([image, image])
    alignment = Alignment(
        "similarity", 0, (90, 120),
        (FrameTransform(np.eye(3)), FrameTransform(_similarity(1.02, 0.004, -2.3, 1.7))),
    )  # fmt: skip
    frames = AlignedFrames(ArrayFrames(stack), alignment)
    rows, columns = slice(11, 50), slice(23, 71)
    np.testing.assert_allclose(frames.region(1, rows, columns), frames[1][rows, columns], atol=1e-5)


def test_focus_maps_of_moved_frames_are_measured_as_stored_then_moved() -> None:
    """Measured in its own coordinates, a frame moved by a pure shift gives its measure moved
    by the same shift."""
    image = sharp_image(80, 100, color=False)
    stack = np.stack([image, image])
    alignment = Alignment(
        "translation", 0, (80, 100), (FrameTransform(np.eye(3)), FrameTransform(_shift(4, 2)))
    )
    frames = AlignedFrames(ArrayFrames(stack), alignment)

    def measure(luma: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
        return [cv2.resize(cv2.blur(luma, (5, 5)), size, interpolation=cv2.INTER_AREA)]

    height, width = frames.size
    reference, moved = (frames.measured(k, measure, (width, height))[0] for k in (0, 1))
    own = measure(image[..., 0], (100, 80))[0]
    assert reference.shape == moved.shape == (height, width) == (78, 96)
    np.testing.assert_allclose(moved, own[2:, 4:], atol=1e-6)


def test_the_maps_of_frames_that_did_not_move_are_their_own() -> None:
    """A stack aligned for its gains only (still, flicker): each frame's maps are measured as
    stored and handed on as they are, the same values as resampling them by the identity."""
    image = sharp_image(80, 100, color=False)
    stack = np.stack([image, image * 0.9])
    alignment = Alignment(
        "similarity", 0, (80, 100),
        (FrameTransform(np.eye(3)), FrameTransform(np.eye(3), gains=(1.1,))),
    )  # fmt: skip
    frames = AlignedFrames(ArrayFrames(stack), alignment)
    made = []

    def measure(luma: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
        made.append(cv2.resize(cv2.blur(luma, (5, 5)), size, interpolation=cv2.INTER_AREA))
        return [made[-1]]

    for k in range(2):
        maps = frames.measured(k, measure, (50, 40))
        assert maps[0] is made[-1]  # not a copy
        np.testing.assert_allclose(maps[0], measure(frames.luminance(k), (50, 40))[0], atol=1e-6)


@pytest.mark.parametrize("method", ["guided-decision", "sf", "gff"])
def test_no_frame_wins_for_having_been_resampled_less(method: str) -> None:
    """Frames equally sharp and equally noisy, each shifted by a fraction of a pixel: the
    reference, which is never resampled, must not take the depth map (with bilinear
    resampling and focus measured on the resampled frames it took 70-90 %; sf and gff, which
    measured the resampled frames until they measured each frame in its own coordinates,
    gave it 100 %)."""
    rng = np.random.default_rng(3)
    texture = sharp_image(4 * 120, 4 * 160, color=False, seed=5)
    frames, transforms = [], []
    for step in range(3):
        offset = 2 * step  # a half pixel per frame at the frames' scale
        window = texture[offset : offset + 4 * 118, offset : offset + 4 * 158]
        frame = cv2.resize(window, (158, 118), interpolation=cv2.INTER_AREA)[..., None]
        frames.append(np.clip(frame + rng.normal(0, 0.01, frame.shape), 0, 1).astype(np.float32))
        transforms.append(FrameTransform(_shift(0.5 * (1 - step), 0.5 * (1 - step))))
    alignment = Alignment("translation", 1, (118, 158), tuple(transforms))
    with Pipeline(method, alignment=alignment).run(np.stack(frames), maps=True) as result:
        shares = np.bincount(result.depth.ravel(), minlength=3) / result.depth.size
    assert shares[1] < 0.5, shares


@pytest.mark.parametrize("sharp", [False, True])
def test_a_whole_pixel_shift_is_a_window_equal_to_the_resampled_one(sharp: bool) -> None:
    """The reference frame of a cropped stack is a window of itself: the same values the
    interpolation gives (a shift off by 1e-9 px takes the general path), and a window
    reaching outside the frame still takes the border rule."""
    image = np.random.default_rng(4).random((50, 60, 3)).astype(np.float32)
    shift = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 5.0], [0.0, 0.0, 1.0]])
    nearly = shift + np.array([[0.0, 0.0, 1e-9], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    window = resample(image, shift, (40, 50), sharp=sharp)
    np.testing.assert_array_equal(window, image[5:45, 3:53])
    np.testing.assert_allclose(window, resample(image, nearly, (40, 50), sharp=sharp), atol=1e-6)
    outside = resample(image, shift, (50, 60), sharp=sharp)  # reaches past the bottom right
    np.testing.assert_allclose(outside, resample(image, nearly, (50, 60), sharp=sharp), atol=1e-6)


@pytest.mark.parametrize("crop", [True, False])
def test_frames_that_are_windows_are_read_alone_with_the_resampled_values(crop: bool) -> None:
    """Frames that are windows of the stored ones (the cropped reference frame; a still stack
    whose gains alone are matched) are read as windows, from memory or disk: every read
    gives what resampling gives (a shift off by 1e-9 px takes that path), and the stored
    frames are left as they were."""
    from mfif.scratch import FrameStore

    image = sharp_image(90, 120, color=True)
    stack = np.stack([image, image * 0.9, image])
    kept = stack.copy()
    gains = [(1.0, 1.0, 1.0), (1.11, 1.1, 1.12), (0.97, 1.0, 1.0)]
    moves = [np.eye(3), np.eye(3), _similarity(1.02, 0.004, -2.3, 1.7)]
    nudge = _shift(1e-9, 0.0) - np.eye(3)

    def aligned(source, nudged: bool) -> AlignedFrames:
        transforms = tuple(
            FrameTransform(m + nudge if nudged else m, g) for m, g in zip(moves, gains, strict=True)
        )
        return AlignedFrames(source, Alignment("similarity", 0, (90, 120), transforms), crop=crop)

    rows, columns = slice(11, 50), slice(23, 71)
    with FrameStore(3, 90, 120, 3, bit_depth=32) as store:
        for k in range(3):
            store.write(k, stack[k])
        for source in (ArrayFrames(stack), store):
            frames, general = aligned(source, False), aligned(source, True)
            assert frames.shape == general.shape
            assert [frames._window(k) is not None for k in range(3)] == [True, True, False]
            assert all(general._window(k) is None for k in range(3))
            for k in range(3):
                np.testing.assert_allclose(frames[k], general[k], atol=1e-5)
                np.testing.assert_allclose(
                    frames.region(k, rows, columns), general.region(k, rows, columns), atol=1e-5
                )
                np.testing.assert_allclose(frames.luminance(k), general.luminance(k), atol=1e-5)
    np.testing.assert_array_equal(stack, kept)


def test_coverage_is_what_resampling_ones_says() -> None:
    """The covered pixels found from the geometry alone (a run per row) are those where
    resampling ones gives at least 0.999, for similarities and mild homographies."""
    from mfif.warp import coverage

    rng = np.random.default_rng(3)
    partial = 0
    for trial in range(60):
        source = tuple(int(n) for n in rng.integers(20, 70, 2))
        shape = tuple(int(n) for n in rng.integers(20, 70, 2))
        scale, turn = 1 + rng.normal(0, 0.05), rng.normal(0, 0.05)
        matrix = np.array(
            [[scale, turn, rng.uniform(-9, 9)], [-turn, scale, rng.uniform(-9, 9)], [0, 0, 1]]
        )
        if trial % 2:
            matrix[2, :2] = rng.normal(0, 1e-3, 2)
        ones = np.full((*source, 1), 65535, np.uint16)
        expected = resample(ones, matrix, shape)[..., 0] >= 65470
        partial += 0 < expected.sum() < expected.size
        np.testing.assert_array_equal(coverage(source, matrix, shape), expected)
    assert partial > 40


def test_a_window_covers_itself_as_resampling_says() -> None:
    from mfif.warp import coverage

    for shift in (_shift(3.0, 5.0), _shift(3.0, 5.0 + 1e-9), np.eye(3), _shift(-1.0, 0.0)):
        ones = np.full((50, 60, 1), 65535, np.uint16)
        expected = resample(ones, shift, (40, 50))[..., 0] >= 65470
        np.testing.assert_array_equal(coverage((50, 60), shift, (40, 50)), expected)


def test_the_common_rectangle_from_runs_is_the_masks() -> None:
    """The crop of an aligned stack, found from each row's covered run, is the largest
    rectangle of the intersected coverage masks."""
    from mfif.warp import _largest_common_rectangle, coverage, largest_rectangle

    rng = np.random.default_rng(3)
    for trial in range(40):
        shape = tuple(int(n) for n in rng.integers(20, 120, 2))
        matrices = []
        for _ in range(int(rng.integers(1, 5))):
            scale, turn = 1 + rng.normal(0, 0.03), rng.normal(0, 0.03)
            matrix = np.array(
                [[scale, turn, rng.uniform(-9, 9)], [-turn, scale, rng.uniform(-9, 9)], [0, 0, 1]]
            )
            if trial % 3 == 0:
                matrix[2, :2] = rng.normal(0, 1e-3, 2)
            matrices.append(matrix)
        covered = np.ones(shape, bool)
        for matrix in matrices:
            covered &= coverage(shape, matrix, shape)
        assert _largest_common_rectangle(matrices, shape) == largest_rectangle(covered)


def test_the_largest_rectangle_of_runs_is_the_exhaustive_one() -> None:
    """Skipping top rows that cannot beat the best so far finds what trying every top and
    bottom row finds, the first of equal largest ones included, on convex and ragged runs."""
    from mfif.warp import largest_rectangle_of_runs

    def exhaustive(first: np.ndarray, stop: np.ndarray) -> tuple[int, int, int, int]:
        best, best_area = (0, 0, 0, 0), 0
        for top in range(first.size):
            for bottom in range(top, first.size):
                left, right = first[top : bottom + 1].max(), stop[top : bottom + 1].min()
                area = max(0, right - left) * (bottom - top + 1)
                if area > best_area:
                    best, best_area = (top, int(left), bottom - top + 1, int(right - left)), area
        return best

    rng = np.random.default_rng(7)
    for trial in range(60):
        rows = int(rng.integers(1, 40))
        if trial % 2:  # ragged: any runs
            first = rng.integers(0, 20, rows)
            stop = first + rng.integers(1, 20, rows)
        else:  # convex, as overlapping warped frames are
            middle = (rows - 1) / 2
            half = rng.uniform(5, 30) * np.sqrt(
                np.clip(1 - ((np.arange(rows) - middle) / (middle + 1)) ** 2, 0, 1)
            )
            first = np.round(30 - half).astype(np.int64)
            stop = np.round(30 + half).astype(np.int64) + 1
        assert largest_rectangle_of_runs(first, stop) == exhaustive(first, stop)
