"""Fusion that streams over the frames of a stack gives the in-memory result."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import mfif
from mfif.decision import GuidedFilter, guided_filter, majority_vote
from mfif.methods import guided_decision
from mfif.stack import Stack


class CountingFrames:
    """A sequence of frames that records how often each one is read."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self.reads = [0] * len(images)
        self.shape = images.shape

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> np.ndarray:
        self.reads[index] += 1
        return self.images[index].copy()


def band_stack(count: int, channels: int, height: int = 150, width: int = 240) -> Stack:
    """Each source sharp in one vertical band, blurred elsewhere."""
    rng = np.random.default_rng(count * 10 + channels)
    sharp = cv2.GaussianBlur(rng.random((height, width, channels), dtype=np.float32), (0, 0), 1)
    sharp = sharp.reshape(height, width, channels)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3).reshape(height, width, channels)
    band = np.arange(width) * count // width
    images = [np.where((band == k)[None, :, None], sharp, blurred) for k in range(count)]
    return Stack(images=np.stack(images).astype(np.float32))


@pytest.mark.parametrize(("count", "channels"), [(2, 3), (3, 1), (6, 3)])
@pytest.mark.parametrize("cache", [True, False])
def test_streamed_guided_decision_equals_in_memory(count, channels, cache, monkeypatch):
    if not cache:
        monkeypatch.setattr(guided_decision, "_CACHE_BYTES", 0)
    stack = band_stack(count, channels)
    fuser = mfif.create("guided-decision")
    whole = fuser.fuse(stack)
    frames = CountingFrames(stack.images)
    streamed = fuser.fuse_frames(frames)
    np.testing.assert_allclose(streamed.image, whole.image, atol=1e-6)
    np.testing.assert_array_equal(streamed.weights, whole.weights)
    # Each frame is read for the focus measure, at most once for the guide, and for the blend
    # only where it wins somewhere.
    assert max(frames.reads) <= 3
    lean = fuser.fuse_frames(stack.images, keep_weights=False)
    assert lean.weights is None
    np.testing.assert_array_equal(lean.image, streamed.image)


def test_a_frame_that_wins_nowhere_is_not_blended():
    stack = band_stack(3, 3)
    blurred_everywhere = cv2.GaussianBlur(stack.images[0], (0, 0), 4)
    images = np.concatenate([blurred_everywhere[None], stack.images])
    frames = CountingFrames(images)
    fused = mfif.create("guided-decision").fuse_frames(frames)
    assert fused.weights[0].max() == 0
    assert frames.reads[0] == 1  # the focus measure only


def test_prepared_guided_filter_equals_the_function():
    rng = np.random.default_rng(3)
    guide = rng.random((90, 70), dtype=np.float32)
    planes = rng.random((3, 90, 70), dtype=np.float32)
    for subsample in (1, 2):
        prepared = GuidedFilter(guide, radius=4, eps=1e-3, subsample=subsample)
        expected = guided_filter(guide, planes, radius=4, eps=1e-3, subsample=subsample)
        for plane, want in zip(planes, expected, strict=True):
            np.testing.assert_array_equal(prepared(plane), want)


def test_majority_vote_takes_the_most_frequent_label_first_on_ties():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, (40, 50)).astype(np.int32)
    votes = np.stack(
        [
            cv2.boxFilter(
                (labels == k).astype(np.uint8), cv2.CV_32F, (5, 5), borderType=cv2.BORDER_REFLECT
            )
            for k in range(4)
        ]
    )
    np.testing.assert_array_equal(majority_vote(labels, 4, window=5), votes.argmax(axis=0))
