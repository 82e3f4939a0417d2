"""Alignment: known motions recovered on frames with different defocus, identity, gains, the
valid region, bad frames, saved alignments, and the aligned pipeline end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import mfif
from mfif.align import (
    Alignment,
    AlignmentError,
    align_stack,
    apply_alignment,
    estimate_alignment,
)
from mfif.stack import Stack
from mfif.warp import largest_rectangle

from conftest import barcode_stack, sharp_image

HEIGHT, WIDTH = 288, 384


def motion(scale: float, degrees: float, shift: tuple[float, float], skew: float = 0.0):
    """3x3: reference coordinates -> frame coordinates, about the image centre."""
    angle = np.deg2rad(degrees)
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = linear @ np.array([[1.0, skew], [0.0, 1.0]])
    centre = np.array([WIDTH / 2, HEIGHT / 2])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre + np.asarray(shift) - linear @ centre
    return matrix


def misaligned_stack(motions, *, gains=None, seed: int = 1) -> tuple[Stack, np.ndarray]:
    """Frames of one scene, each sharp in its own vertical band and defocused elsewhere (by a
    different amount per frame), moved by ``motions`` and scaled by ``gains``."""
    truth = sharp_image(HEIGHT, WIDTH, color=True, seed=seed)
    count = len(motions)
    band = (np.arange(WIDTH) * count // WIDTH)[None, :, None]
    frames = []
    for k, matrix in enumerate(motions):
        blurred = cv2.GaussianBlur(truth, (0, 0), 1.5 + k).reshape(truth.shape)
        image = np.where(band == k, truth, blurred)
        # frame(M x) = scene(x): warpAffine's forward mapping
        frame = cv2.warpAffine(
            image, matrix[:2], (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
        ).reshape(truth.shape)
        if gains is not None:
            frame = np.clip(frame * gains[k], 0, 1)
        frames.append(frame)
    return Stack(images=np.stack(frames).astype(np.float32)), truth


def centre_error(estimated: np.ndarray, true: np.ndarray) -> float:
    centre = np.array([WIDTH / 2, HEIGHT / 2, 1.0])
    return float(np.abs((estimated @ centre)[:2] - (true @ centre)[:2]).max())


def scale_of(matrix: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))


BREATHING = [
    motion(1.018, 0.12, (2.6, -1.7)),
    motion(1.0, 0.0, (0.0, 0.0)),
    motion(0.986, -0.2, (-3.1, 2.2)),
]


def test_a_known_similarity_is_recovered() -> None:
    stack, _ = misaligned_stack(BREATHING)
    alignment, dropped = estimate_alignment(stack, model="similarity")
    assert dropped == [] and alignment.reference == 1
    for estimated, true in zip(alignment.frames, BREATHING, strict=True):
        assert abs(scale_of(estimated.matrix) / scale_of(true) - 1) < 0.0005  # 0.05 %
        assert centre_error(estimated.matrix, true) < 0.1


def test_where_the_refinement_fails_ecc_registers_the_finest_level(monkeypatch) -> None:
    """A similarity is refined on the finest level from the coarser levels' ECC; when the
    refinement gives up, ECC runs on the finest level after all, so the motion is still
    found to a tenth of a pixel."""
    from mfif import align

    calls, shapes = [], []
    ecc = cv2.findTransformECC
    monkeypatch.setattr(cv2, "findTransformECC", lambda *a: shapes.append(a[0].shape) or ecc(*a))
    stack, _ = misaligned_stack(BREATHING)
    estimate_alignment(stack, model="similarity")
    assert shapes and (HEIGHT, WIDTH) not in shapes  # refined, no ECC at full size
    shapes.clear()
    monkeypatch.setattr(align, "refine_similarity", lambda f, m, w: calls.append(1) or w)
    alignment, _ = estimate_alignment(stack, model="similarity")
    assert calls  # the refinement was asked, and gave up
    assert shapes.count((HEIGHT, WIDTH)) >= 2  # so ECC registered both pairs at full size
    for estimated, true in zip(alignment.frames, BREATHING, strict=True):
        assert centre_error(estimated.matrix, true) < 0.15
        assert estimated.correlation > 0.5


def test_a_known_affine_motion_is_recovered() -> None:
    motions = [motion(1.01, 0.1, (1.5, 0.8), skew=0.004), motion(1, 0, (0, 0))]
    stack, _ = misaligned_stack(motions)
    alignment, _ = estimate_alignment(stack, model="affine", reference=1)
    estimated, true = alignment.frames[0].matrix, motions[0]
    assert np.abs(estimated[:2, :2] - true[:2, :2]).max() < 0.0005
    assert centre_error(estimated, true) < 0.1


def test_translation_and_homography_models() -> None:
    shifted = [motion(1, 0, (3.4, -2.3)), motion(1, 0, (0, 0))]
    stack, _ = misaligned_stack(shifted)
    for model in ("translation", "homography"):
        alignment, _ = estimate_alignment(stack, model=model, reference=1)
        assert centre_error(alignment.frames[0].matrix, shifted[0]) < 0.1, model


def test_identical_frames_give_the_identity_and_auto_leaves_them_untouched() -> None:
    image = sharp_image(HEIGHT, WIDTH, color=True)
    stack = Stack(images=np.stack([image, image, image]))
    alignment, _ = estimate_alignment(stack)
    for frame in alignment.frames:
        np.testing.assert_allclose(frame.matrix, np.eye(3), atol=1e-6)
        assert frame.gains == pytest.approx((1.0, 1.0, 1.0), abs=1e-6)
    aligned, _ = align_stack(stack, model="auto")
    assert aligned is stack


def test_exposure_flicker_is_matched_per_channel() -> None:
    gains = [np.array([1.04, 1.03, 1.05]), np.ones(3), np.array([0.97, 0.98, 0.96])]
    stack, _ = misaligned_stack([motion(1, 0, (0, 0))] * 3, gains=gains)
    alignment, _ = estimate_alignment(stack)
    for frame, gain in zip(alignment.frames, gains, strict=True):
        np.testing.assert_allclose(np.asarray(frame.gains) * gain, 1.0, atol=0.005)


def test_alignment_undoes_the_motion_and_crops_to_the_covered_region() -> None:
    stack, truth = misaligned_stack(BREATHING)
    aligned, alignment = align_stack(stack, model="similarity")
    assert aligned.valid is None and aligned.count == 3
    height, width = aligned.size
    assert 0.9 * HEIGHT < height < HEIGHT and 0.9 * WIDTH < width < WIDTH
    # The aligned frames agree where each is sharp: fusing them gives the scene.
    fused = mfif.fuse(aligned, align="none").image
    top, left = _offset(fused, truth)
    region = truth[top : top + height, left : left + width]
    assert np.abs(fused - region)[8:-8, 8:-8].mean() < 0.01


def _offset(image: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    grey = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY)
    found = cv2.matchTemplate(grey, cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.TM_SQDIFF)
    _, _, (left, top), _ = cv2.minMaxLoc(found)
    return top, left


def test_without_crop_borders_come_from_frames_that_cover_them() -> None:
    stack, _ = misaligned_stack(BREATHING)
    aligned, _ = align_stack(stack, model="similarity", crop=False)
    assert aligned.size == (HEIGHT, WIDTH) and aligned.valid is not None
    assert 0.8 < aligned.valid.mean() < 1.0
    # The reference covers every pixel, so nothing is left black.
    assert aligned.images.max(axis=-1).min() > 0


def test_a_frame_of_another_scene_is_named_or_dropped() -> None:
    stack, _ = misaligned_stack([motion(1, 0, (0, 0))] * 3)
    stranger = np.random.default_rng(9).random((HEIGHT, WIDTH, 3)).astype(np.float32)
    images = stack.images.copy()
    images[2] = stranger
    mixed = Stack(images=images, names=("a.png", "b.png", "c.png"))
    with pytest.raises(AlignmentError, match=r"Frame 2 \(c.png\)"):
        estimate_alignment(mixed)
    aligned, _ = align_stack(mixed, model="similarity", skip_bad_frames=True)
    assert aligned.names == ("a.png", "b.png")


def test_frames_without_overlap_give_a_clear_error() -> None:
    image = sharp_image(HEIGHT, WIDTH, color=False, seed=4)[..., 0]
    left, right = (
        image[:, : WIDTH // 2],
        sharp_image(HEIGHT, WIDTH // 2, color=False, seed=8)[..., 0],
    )
    stack = Stack.from_arrays([left, right])
    with pytest.raises(AlignmentError, match="cannot be registered"):
        estimate_alignment(stack)


def test_a_saved_alignment_applies_again() -> None:
    stack, _ = misaligned_stack(BREATHING)
    alignment, _ = estimate_alignment(stack)
    again = Alignment.from_dict(json.loads(json.dumps(alignment.to_dict())))
    first = apply_alignment(stack, alignment)
    second = apply_alignment(stack, again)
    np.testing.assert_allclose(first.images, second.images, atol=1e-6)


def test_largest_rectangle_in_a_convex_region() -> None:
    mask = np.zeros((50, 60), bool)
    mask[5:45, 10:50] = True
    mask[5:8, 10:12] = False  # a nibbled corner
    top, left, height, width = largest_rectangle(mask)
    assert mask[top : top + height, left : left + width].all()
    assert height * width >= 37 * 40


def _write(folder: Path, stack: Stack, bit_depth: int) -> list[str]:
    paths = []
    for k, image in enumerate(stack.images):
        paths.append(str(mfif.save_image(folder / f"frame-{k}.png", image, bit_depth=bit_depth)))
    return paths


def _mfif(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mfif", *args], capture_output=True, text=True)


def test_sixteen_bit_stays_sixteen_bit_through_alignment(tmp_path: Path) -> None:
    stack, _ = misaligned_stack(BREATHING)
    paths = _write(tmp_path, stack, 16)
    result = _mfif(
        "fuse", *paths, "-o", str(tmp_path / "out.png"), "--save-aligned",
        str(tmp_path / "aligned"), "--report", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    fused = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert fused.dtype == np.uint16
    assert len(np.unique(fused)) > 1024  # no rounding to 8 bits on the way
    aligned = sorted((tmp_path / "aligned").iterdir())
    assert len(aligned) == 3
    assert cv2.imread(str(aligned[0]), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["alignment"]["model"] == "similarity" and len(report["alignment"]["frames"]) == 3
    # The report's alignment applies again, to the same result.
    again = _mfif(
        "fuse", *paths, "-o", str(tmp_path / "again.png"), "--alignment", str(tmp_path / "r.json")
    )
    assert again.returncode == 0, again.stderr
    repeated = cv2.imread(str(tmp_path / "again.png"), cv2.IMREAD_UNCHANGED)
    assert np.abs(repeated.astype(int) - fused.astype(int)).max() <= 2


def test_the_pipeline_leaves_registered_stacks_exactly_as_before() -> None:
    stack, _ = misaligned_stack([motion(1, 0, (0, 0))] * 3)
    with_auto = mfif.fuse(stack).image
    without = mfif.fuse(stack, align="none").image
    np.testing.assert_array_equal(with_auto, without)


def test_auto_tells_defocus_from_motion() -> None:
    """A bright object over a dark background, 4 frames, blur up to 16 px, rendered without
    motion: registration reports 1-1.4 px, within three times its own uncertainty, so `auto`
    leaves the stack untouched; the same stack moved by 3 px and 1 % is registered."""
    from mfif.align import align_frames
    from mfif.data.layered import render_layers
    from mfif.frames import ArrayFrames
    from mfif.warp import resample

    foreground = sharp_image(240, 320, color=True, seed=2)
    background = sharp_image(240, 320, color=True, seed=12) * 0.3
    mask = np.zeros((240, 320), np.float32)
    cv2.ellipse(mask, (150, 120), (70, 50), 20, 0, 360, 1.0, -1)
    frames, _, _ = render_layers(
        foreground, cv2.GaussianBlur(mask, (0, 0), 1.0), background, planes=4, max_blur=16
    )
    still = np.stack(frames).astype(np.float32)
    _, found = align_frames(ArrayFrames(Stack(images=still)))
    height, width = found.shape
    assert max(f.displacement(height, width) for f in found.frames) > 1.0  # what it reports
    assert found.is_identity
    moved = still.copy()
    for k in (0, 3):
        motion = np.array([[1.01, 0, 3.0 - 1.6 * k], [0, 1.01, -2.0], [0, 0, 1]])
        moved[k] = resample(still[k], motion, (height, width), sharp=True)
    _, found = align_frames(ArrayFrames(Stack(images=moved)))
    assert not found.is_identity


def test_a_still_stack_passes_the_coarse_check_without_full_registration(monkeypatch) -> None:
    from mfif.align import FrameSummary, align_frames
    from mfif.frames import ArrayFrames

    # The check uses one coarse level: the full pyramids are never made.
    monkeypatch.setattr(FrameSummary, "levels", property(lambda _: pytest.fail("full pyramid")))
    stack, _ = misaligned_stack([motion(1, 0, (0, 0))] * 3)
    frames = ArrayFrames(stack)
    aligned, found = align_frames(frames)
    assert aligned is frames
    assert found.is_identity
    assert max(f.displacement(HEIGHT, WIDTH) for f in found.frames) < 0.5


def test_registration_data_is_released_once_aligned() -> None:
    """Summaries and pyramids are a few MB per frame: not held while the frames are fused."""
    from mfif.align import align_frames, frame_summary
    from mfif.frames import ArrayFrames

    stack, _ = misaligned_stack(BREATHING)
    frames = ArrayFrames(stack)
    frames.summaries = [frame_summary(image) for image in stack.images]
    aligned, found = align_frames(frames)
    assert aligned is not frames and not found.is_still
    assert frames.summaries is None


@pytest.mark.parametrize(
    "motions, gains",
    [
        (BREATHING, None),
        ([motion(1, 0, (0, 0)), motion(1, 0, (0, 0)), motion(1, 0, (1.0, 0))], None),
        ([motion(1.003, 0, (0, 0)), motion(1, 0, (0, 0)), motion(1, 0, (0, 0))], None),
    ],
    ids=["breathing", "one-pixel-shift", "0.3%-scale"],
)
def test_the_coarse_check_does_not_call_a_moved_stack_still(motions, gains) -> None:
    from mfif.align import still_alignment
    from mfif.frames import ArrayFrames

    stack, _ = misaligned_stack(motions, gains=gains)
    assert still_alignment(ArrayFrames(stack)) is None


def test_a_still_stack_whose_brightness_changed_is_gain_matched_not_resampled(
    monkeypatch,
) -> None:
    """Flicker without motion: each frame is only scaled back to the reference's brightness
    (no resampling softens it, nothing is cropped), from the coarse check alone."""
    from mfif.align import FrameSummary, align_frames
    from mfif.frames import ArrayFrames

    monkeypatch.setattr(FrameSummary, "levels", property(lambda _: pytest.fail("full pyramid")))
    gains = [np.full(3, 0.96, np.float32), np.ones(3, np.float32), np.ones(3, np.float32)]
    stack, _ = misaligned_stack([motion(1, 0, (0, 0))] * 3, gains=gains)
    frames = ArrayFrames(stack)
    aligned, found = align_frames(frames)
    assert found.is_still and not found.gains_matched
    assert all(np.array_equal(f.matrix, np.eye(3)) for f in found.frames)
    assert aligned.shape == stack.images.shape
    assert abs(found.frames[0].gains[0] * 0.96 - 1) < 0.01
    for k, frame in enumerate(found.frames):  # each pixel where it was, times its gains
        gained = stack.images[k] * np.asarray(frame.gains, np.float32)
        np.testing.assert_allclose(aligned[k], np.clip(gained, 0, 1), atol=1e-6)


def test_registration_makes_each_pyramid_once_and_keeps_few(monkeypatch) -> None:
    """A long stack's pyramids are not all held: registration goes along the stack, keeping
    the few it is using, and the uncertainty check runs with each pair's registration."""
    from mfif import align
    from mfif.frames import ArrayFrames

    made, held = [], []
    original = align.FrameSummary.levels.fget

    def counted(summary):
        made.append(id(summary))
        return original(summary)

    class Watched(align.LevelsOf):
        def __getitem__(self, index):
            levels = super().__getitem__(index)
            held.append(len(self._made))
            return levels

    monkeypatch.setattr(align.FrameSummary, "levels", property(counted))
    monkeypatch.setattr(align, "LevelsOf", Watched)
    motions = [motion(1 + 0.004 * k, 0.05 * k, (0.7 * k, -0.4 * k)) for k in range(-2, 3)]
    stack, _ = misaligned_stack(motions)
    alignment, dropped = align.estimate_alignment(ArrayFrames(stack), uncertainty=True)
    assert not dropped and len(alignment.frames) == 5
    assert sorted(made) == sorted(set(made)) and len(made) == 5  # each frame's pyramid once
    assert max(held) <= 2 * (os.cpu_count() or 1) + 2


def test_levels_of_makes_a_dropped_frame_again_with_the_same_values() -> None:
    from mfif import align

    stack, _ = misaligned_stack(BREATHING)
    summaries = [align.frame_summary(image) for image in stack.images]
    levels = align.LevelsOf(summaries, kept=2)
    first = levels[0]
    levels[1], levels[2]  # 0 is dropped
    again = levels[0]
    assert again is not first
    np.testing.assert_array_equal(again.fine, first.fine)
    assert len(levels._made) == 2


def test_auto_takes_frames_it_cannot_match_under_defocus_as_unmoved(caplog) -> None:
    """Bars sharp in one frame and reversed in contrast by a wider blur in the next do not
    register; `auto` takes such a frame as not moved from its neighbour (with a warning) when
    their thumbnails show the same scene, and passes this still stack through untouched; an
    explicit model still refuses it."""
    frames, _, _ = barcode_stack(0)
    stack = Stack(images=frames)
    with pytest.raises(AlignmentError, match="cannot be registered"):
        align_stack(stack, model="similarity")
    with caplog.at_level("WARNING", logger="mfif"):
        aligned, alignment = align_stack(stack)
    assert "taken as not moved" in caplog.text
    assert alignment.is_still
    np.testing.assert_array_equal(aligned.images, frames)


def test_same_scene_tells_a_defocused_frame_from_another_scene() -> None:
    from mfif.align import _same_scene

    image = sharp_image(120, 200, color=True, seed=4)
    blurred = cv2.GaussianBlur(image, (0, 0), 6)
    assert _same_scene(image, blurred)
    assert not _same_scene(image, sharp_image(120, 200, color=True, seed=8))
    assert not _same_scene(image, np.random.default_rng(0).random(image.shape, np.float32))
    assert not _same_scene(image, np.zeros_like(image))


def test_auto_keeps_real_motion_and_drops_motion_the_coarse_view_contradicts(caplog) -> None:
    """Large real shifts (several pixels at the coarse view's 128 px) survive `auto`'s check;
    the 15 px that registration finds between a barcode's frames that never moved do not."""
    shifted = [
        motion(1.0, 0.0, (9.0, -7.0)),
        motion(1.0, 0.0, (0.0, 0.0)),
        motion(1.0, 0.0, (-8.0, 6.0)),
    ]
    stack, _ = misaligned_stack(shifted)
    with caplog.at_level("WARNING", logger="mfif"):
        _, alignment = align_stack(stack)
    assert "contradicts" not in caplog.text
    assert alignment.frames[0].displacement(HEIGHT, WIDTH) > 8
    frames, _, _ = barcode_stack(1)
    with caplog.at_level("WARNING", logger="mfif"):
        aligned, alignment = align_stack(Stack(images=frames))
    assert "contradicts" in caplog.text
    assert alignment.is_still
    np.testing.assert_array_equal(aligned.images, frames)


def test_the_coarse_check_stops_at_the_first_pair_that_moved(monkeypatch) -> None:
    """On a stack that moved, `auto`'s cheap check gives up at the first pair whose step is
    well beyond its tolerance: the pairs not yet started are not registered (full
    registration follows); a still stack has every pair registered."""
    from mfif import align
    from mfif.frames import ArrayFrames

    registered = []
    original = align._try_register

    def counted(levels, anchor, k, model):
        registered.append((anchor, k))
        return original(levels, anchor, k, model)

    monkeypatch.setattr(align, "_try_register", counted)
    monkeypatch.setattr(align.os, "cpu_count", lambda: 1)  # pairs one at a time, on any machine
    moved = [motion(1.0, 0.0, (3.0 * k, -2.0 * k)) for k in range(-3, 4)]
    stack, _ = misaligned_stack(moved)
    assert align.still_alignment(ArrayFrames(stack)) is None
    assert len(registered) <= 2  # the one that moved, and one the thread took meanwhile
    registered.clear()
    still, _ = misaligned_stack([motion(1, 0, (0, 0))] * 7)
    assert align.still_alignment(ArrayFrames(still)) is not None
    assert len(registered) == 6
