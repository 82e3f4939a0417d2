"""Decision-map helpers: the prepared guided filter, the majority vote, the running winner,
small regions, the repair of patchy decisions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.ndimage import maximum_filter

from mfif.decision import (
    GuidedFilter,
    RunningWinner,
    guided_filter,
    majority_vote,
    remove_small_regions,
    repair_patchy_labels,
    winning_source,
)


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


def test_the_running_winner_keeps_the_runner_up():
    rng = np.random.default_rng(6)
    scores = rng.integers(0, 5, (4, 20, 30)).astype(np.float32)  # ties: best and runner-up equal
    winner = RunningWinner(runner_up=True)
    winner.update(0, scores[0])
    assert np.isneginf(winner.runner_up).all()
    for k, plane in enumerate(scores[1:], start=1):
        winner.update(k, plane)
    np.testing.assert_array_equal(winner.runner_up, np.sort(scores, axis=0)[-2])


def test_the_running_winner_keeps_the_best_of_the_maps_away_from_the_winner():
    """With ``away=2`` it also keeps the best map other than the winner and its two
    neighbours (-inf where there is none), as a brute force finds it, ties included."""
    rng = np.random.default_rng(7)
    for count in (1, 2, 3, 5, 8):
        scores = rng.integers(0, 6, (count, 12, 16)).astype(np.float32)
        for distance, runner_up in ((2, True), (3, True), (2, False)):
            winner = RunningWinner(runner_up=runner_up, away=distance)
            for k, plane in enumerate(scores):
                winner.update(k, plane)
            labels = scores.argmax(axis=0)
            far = np.abs(np.arange(count)[:, None, None] - labels) >= distance
            np.testing.assert_array_equal(winner.labels, labels)
            expected = np.where(far, scores, -np.inf).max(axis=0)
            np.testing.assert_array_equal(winner.runner_up_away, expected)
            if runner_up:
                second = (
                    np.sort(scores, axis=0)[-2] if count > 1 else np.full(labels.shape, -np.inf)
                )
                np.testing.assert_array_equal(winner.runner_up, second)
    with pytest.raises(ValueError):
        RunningWinner(labels=False, away=2)
    with pytest.raises(ValueError):
        RunningWinner(away=1)


def test_a_weak_patchy_decision_takes_the_confident_one_around_it():
    """A band of weak decisions that change every few pixels among frames 0-4 (the inside of
    a bar), between confident decisions for frame 5 (its edges), becomes frame 5; a weak
    decision that does not change (a background no frame focuses) is left alone, and so is a
    patchy one that frame 5 does not enclose within the distance, or encloses on one side only."""
    rng = np.random.default_rng(7)
    labels = np.full((60, 120), 5, np.int32)
    lead = np.full(labels.shape, 1.0, np.float32)
    labels[:, 20:44] = rng.integers(0, 5, (60, 24))
    lead[:, 20:44] = 0.05
    labels[:, 70:110] = 2
    lead[:, 70:110] = 0.05
    neighbourhood = np.ones(labels.shape, np.float32)

    def repaired(distance: float, lead: np.ndarray = lead) -> np.ndarray:
        return repair_patchy_labels(
            labels, lead, neighbourhood, window=15, min_lead=0.5, max_spread=1.0,
            distance=distance,
        )  # fmt: skip

    assert (repaired(30)[:, 20:44] == 5).all()
    np.testing.assert_array_equal(repaired(30)[:, 78:102], 2)  # its inside (its rim may move)
    np.testing.assert_array_equal(repaired(30)[:, :20], 5)
    np.testing.assert_array_equal(repaired(10)[:, 20:44], labels[:, 20:44])  # 25 px apart
    open_side = lead.copy()
    open_side[:, 44:70] = 0.05  # the band's right edge no longer confident
    labels_before = labels.copy()
    labels[:, 44:70] = rng.integers(0, 5, (60, 26))
    np.testing.assert_array_equal(repaired(30, open_side)[:, 20:44], labels[:, 20:44])
    labels[...] = labels_before
    # Strong leads everywhere: nothing changes.
    np.testing.assert_array_equal(repaired(30, lead * 0 + 1), labels)
    # The scans on two threads: the same repair.
    on_threads = repair_patchy_labels(
        labels, lead, neighbourhood, window=15, min_lead=0.5, max_spread=1.0, distance=30,
        threads=2,
    )  # fmt: skip
    np.testing.assert_array_equal(on_threads, repaired(30))


def _small_regions_one_source_after_another(labels, count, min_area):
    """remove_small_regions written plainly: each source's regions found on its turn, each
    small one given the label most of the pixels around it (outside every small region of
    the source) have (a pixel next to two, the larger id's)."""
    labels = labels.astype(np.int32, copy=True)
    for k in np.flatnonzero(np.bincount(labels.ravel(), minlength=count)):
        _, components, stats, _ = cv2.connectedComponentsWithStats(
            (labels == k).view(np.uint8), connectivity=4
        )
        small = stats[:, cv2.CC_STAT_AREA] < min_area
        small[0] = False
        is_small = small[components]
        new = labels.copy()
        # A pixel next to two small regions borders the one with the larger id.
        nearest = maximum_filter(np.where(is_small, components, 0), size=3, mode="constant")
        for component in np.flatnonzero(small):
            inside = components == component
            neighbours = labels[(nearest == component) & ~is_small]
            neighbours = neighbours[neighbours != k]
            if neighbours.size:
                new[inside] = np.bincount(neighbours, minlength=count).argmax()
        labels = new
    return labels


def test_small_regions_go_to_their_surroundings():
    labels = np.zeros((60, 80), np.int32)
    labels[:, 40:] = 2
    labels[10:14, 10:14] = 1  # islands of 1 in 0...
    labels[40:44, 20:24] = 1
    labels[10:13, 60:63] = 1  # ...and one in 2: each goes to its own surroundings
    labels[30:33, 60:63] = 0  # an island of 0 in 2
    cleaned = remove_small_regions(labels, 3, min_area=20)
    expected = np.zeros_like(labels)
    expected[:, 40:] = 2
    np.testing.assert_array_equal(cleaned, expected)


def test_small_regions_found_ahead_on_threads_are_the_same():
    """Regions found ahead from the labels as they were, and again for a source that was
    given pixels: the result of one source after another, on 1 or 2 threads."""
    rng = np.random.default_rng(4)
    for trial in range(6):
        noise = cv2.GaussianBlur(rng.random((120, 150), dtype=np.float32), (0, 0), 1 + trial)
        count = 3 + trial
        edges = np.quantile(noise, np.linspace(0, 1, count + 1)[1:-1])
        labels = np.digitize(noise, edges).astype(np.int32)
        labels[rng.random(labels.shape) < 0.01] = 0  # specks of 0: they go to others
        expected = _small_regions_one_source_after_another(labels, count, 40)
        assert not np.array_equal(expected, labels)
        for threads in (1, 2):
            found = remove_small_regions(labels, count, min_area=40, threads=threads)
            np.testing.assert_array_equal(found, expected)
