"""Decision-map helpers: the prepared guided filter, the majority vote, the running winner."""

from __future__ import annotations

import cv2
import numpy as np

from mfif.decision import GuidedFilter, RunningWinner, guided_filter, majority_vote, winning_source


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


def test_the_running_winner_is_the_arg_max_first_on_ties():
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 4, (5, 30, 40)).astype(np.float32)  # many ties
    winner = RunningWinner()
    for k, plane in enumerate(scores):
        winner.update(k, plane)
    np.testing.assert_array_equal(winner.labels, scores.argmax(axis=0))
    np.testing.assert_array_equal(winning_source(scores), scores.argmax(axis=0))
