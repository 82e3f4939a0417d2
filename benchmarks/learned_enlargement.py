"""A learned ×2 start for back-projection, measured and not built (README, DFP, "A learned
start"): hashed filters after RAISR (Romano, Isidoro and Milanfar, IEEE TCI 2017), fitted here
by least squares on the BSDS500 training split, added to the Lanczos-4 enlargement of the
luminance, then the 3 back-projection steps of `mfif.resample.back_projected_upsample`.

Each pixel's filter (9 x 9 taps) is chosen by its position among the 4 of its low-resolution
pixel and by its structure tensor's angle (16 buckets), strength (3) and coherence (3). The
script fits one filter bank per ``--degradations`` model (about 20 s each) and reports PSNR
against the truth, from the Lanczos-4 start and from the learned one (its correction at full
and at half strength), on: the held-out scenes of `benchmarks/upsampling.py`; the nine shared
real stacks, each fused by the default, its result as the truth; and three synthetic textures
(blurred noise, the texture of `tests/test_resample.py`).

    .venv/bin/python benchmarks/learned_enlargement.py [--degradations lanczos2 box]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mfif.color import luminance
from mfif.data.natural import natural_items
from mfif.io import read_image
from mfif.metrics import psnr
from mfif.resample import back_projected_upsample, downsample

from _common import require_shared
from _heldout import enlargement_truths

PATCH, ANGLES = 9, 16
STRENGTH_EDGES, COHERENCE_EDGES = (0.005, 0.02), (0.25, 0.5)
BUCKETS = ANGLES * (len(STRENGTH_EDGES) + 1) * (len(COHERENCE_EDGES) + 1)


def buckets_of(cheap: np.ndarray) -> np.ndarray:
    """Each pixel's bucket from its structure tensor (central differences, Gaussian σ 1.2)."""
    gradient_x = cv2.Sobel(cheap, cv2.CV_32F, 1, 0, ksize=1, scale=0.5)
    gradient_y = cv2.Sobel(cheap, cv2.CV_32F, 0, 1, ksize=1, scale=0.5)

    def averaged(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(cv2.multiply(first, second), (0, 0), 1.2)

    xx = averaged(gradient_x, gradient_x)
    yy = averaged(gradient_y, gradient_y)
    xy = averaged(gradient_x, gradient_y)
    half_trace = (xx + yy) * np.float32(0.5)
    spread = np.sqrt(np.maximum(half_trace * half_trace - (xx * yy - xy * xy), 0))
    largest, smallest = half_trace + spread, np.maximum(half_trace - spread, 0)
    angle = cv2.phase(largest - yy, xy)  # the largest eigenvalue's eigenvector, in [0, 2π)
    angle_bucket = (angle * np.float32(ANGLES / np.pi)).astype(np.int32) % ANGLES
    root_largest, root_smallest = np.sqrt(largest), np.sqrt(smallest)
    coherence = (root_largest - root_smallest) / (root_largest + root_smallest + 1e-9)
    strength = sum((root_largest >= edge).astype(np.int32) for edge in STRENGTH_EDGES)
    coherent = sum((coherence >= edge).astype(np.int32) for edge in COHERENCE_EDGES)
    return (angle_bucket * (len(STRENGTH_EDGES) + 1) + strength) * (
        len(COHERENCE_EDGES) + 1
    ) + coherent


def lanczos(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4).reshape(
        size[1], size[0], *image.shape[2:]
    )


def grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else luminance(image)


def fit(images: list[np.ndarray], degradation: str) -> np.ndarray:
    """Filters (4, BUCKETS, PATCH²) by ridge least squares: Lanczos-4 enlargement of each image
    downsampled by 2 -> the image's own pixels."""
    taps = PATCH * PATCH
    normal, moments = np.zeros((4, BUCKETS, taps, taps)), np.zeros((4, BUCKETS, taps))
    for image in images:
        truth = grey(image)
        truth = np.ascontiguousarray(truth[: truth.shape[0] // 2 * 2, : truth.shape[1] // 2 * 2])
        cheap = lanczos(downsample(truth, 2, degradation), (truth.shape[1], truth.shape[0]))
        buckets = buckets_of(cheap)
        windows = sliding_window_view(np.pad(cheap, PATCH // 2, mode="reflect"), (PATCH, PATCH))
        for kind in range(4):
            part = (slice(kind // 2, None, 2), slice(kind % 2, None, 2))
            patches = windows[part].reshape(-1, taps).astype(np.float64)
            targets = (truth[part] - cheap[part]).ravel().astype(np.float64)
            labels = buckets[part].ravel()
            order = np.argsort(labels, kind="stable")
            edges = np.searchsorted(labels[order], np.arange(BUCKETS + 1))
            patches, targets = patches[order], targets[order]
            for bucket in np.flatnonzero(np.diff(edges)):
                rows = slice(edges[bucket], edges[bucket + 1])
                normal[kind, bucket] += patches[rows].T @ patches[rows]
                moments[kind, bucket] += patches[rows].T @ targets[rows]
    filters = np.zeros((4, BUCKETS, taps), np.float32)
    for kind in range(4):
        for bucket in range(BUCKETS):
            matrix = normal[kind, bucket]
            ridge = 1e-4 * np.trace(matrix) / taps + 1e-8
            filters[kind, bucket] = np.linalg.solve(
                matrix + ridge * np.eye(taps), moments[kind, bucket]
            )
    return filters


def learned_start(filters: np.ndarray, low: np.ndarray, strength: float) -> np.ndarray:
    """Lanczos-4 ×2 of ``low`` plus ``strength`` times the filters' luminance correction."""
    size = (low.shape[1] * 2, low.shape[0] * 2)
    cheap = lanczos(grey(low), size)
    buckets = buckets_of(cheap)
    windows = sliding_window_view(np.pad(cheap, PATCH // 2, mode="reflect"), (PATCH, PATCH))
    kinds = (np.arange(size[1])[:, None] % 2) * 2 + (np.arange(size[0])[None, :] % 2)
    correction = np.empty(cheap.shape, np.float32)
    for start in range(0, size[1], 64):
        rows = slice(start, start + 64)
        patches = windows[rows].reshape(-1, PATCH * PATCH)
        taps = filters[kinds[rows].ravel(), buckets[rows].ravel()]
        correction[rows] = np.einsum("pt,pt->p", patches, taps).reshape(-1, size[0])
    enlarged = lanczos(low, size)
    return enlarged + strength * (correction[..., None] if enlarged.ndim == 3 else correction)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degradations", nargs="+", default=["lanczos2", "box"])
    args = parser.parse_args()
    shared = require_shared()
    items = [
        i for i in natural_items(shared / "natural") if i.source == "bsds500" and i.split == "train"
    ]
    images = [read_image(item.image)[0] for item in items]
    with tempfile.TemporaryDirectory() as scratch:
        sets = enlargement_truths(shared, Path(scratch))
    for degradation in args.degradations:
        filters = fit(images, degradation)
        print(f"\nmade by {degradation}; filters fitted on {len(images)} BSDS500 training images")
        print("\n| truth | from Lanczos-4 | learned start | at half strength |\n|---|---|---|---|")
        for name, images_of_set in sets.items():
            scores = np.zeros(3)
            for truth in images_of_set:
                low = np.clip(downsample(truth, 2, degradation), 0, 1)
                # Back-projection alone, as when this was measured (before its smoothing).
                plain = back_projected_upsample(low, 2, degradation=degradation, smoothing=0)
                scores += [psnr(plain, truth)] + [
                    psnr(
                        back_projected_upsample(
                            low,
                            2,
                            degradation=degradation,
                            start=learned_start(filters, low, s),
                            smoothing=0,
                        ),
                        truth,
                    )
                    for s in (1.0, 0.5)
                ]
            base, full, half = scores / len(images_of_set)
            print(f"| {name} | {base:.2f} | {full - base:+.2f} | {half - base:+.2f} |", flush=True)


if __name__ == "__main__":
    main()
