"""Random supervised focus stacks with exact ground truth, drawn from sharp natural images.

Each draw takes one image of the training split, a random crop (never a resize) and a flip,
then renders K sources in which each region is sharp in exactly one source:

- masks (PASCAL-S binarised at 128, DAVIS) or random smooth masks (BSDS500) give the regions;
  UFA-Fuse eq. (11) blends the sharp and the blurred image with the (softened) masks. The blur
  of each source is a Gaussian, a mean filter from UFA-Fuse's bands or a disk;
- disparity maps (Middlebury) give thin-lens renders focused at K random depths.

The sharp crop is the ground truth. With ``targets=True`` a draw also returns, per source, the
share of each pixel that source holds in focus: the decision-map target of the decision
networks. Everything is drawn from the generator handed in, so a batch is a function of the
seed and the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..io import read_image
from .layered import render_layers
from .masks import PSF_KINDS, blur, draw_blur
from .natural import NaturalItem
from .realism import Realism
from .synthetic import fill_unknown_disparity, render_depth_stack

__all__ = ["StackSampler", "random_smooth_mask", "SOURCE_WEIGHTS", "MASK_SETS"]

# How often each kind of material is drawn: depth renders are the most physical but come from
# few scenes, so they are drawn often without dominating.
SOURCE_WEIGHTS = {"pascal_s": 0.35, "bsds500": 0.2, "davis2016": 0.2, "middlebury2006": 0.25}
MASK_SETS = {"pascal_s": 0.5, "bsds500": 0.25, "davis2016": 0.25}  # no depth renders
_MARGIN = 16  # pixels cropped beyond the patch so every blur sees real surroundings


_BLUR_RANGES = {
    "gaussian": "gaussian sigma 1-4",
    "mean": "mean filter in UFA-Fuse's bands",
    "disk": "disk radius 2-8",
}


def random_smooth_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A random binary mask with smooth, blob-like boundaries, (H, W) bool.

    Low-resolution white noise, upsampled bicubically and thresholded at a random quantile in
    [0.3, 0.7] (so both regions are present).
    """
    height, width = shape
    cells = int(rng.integers(2, 7))
    noise = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    field = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return field > np.quantile(field, rng.uniform(0.3, 0.7))


@dataclass
class _Loaded:
    image: np.ndarray  # (H, W, 3) uint8, or uint16 for 16-bit files
    companion: np.ndarray | None  # mask (H, W) bool, or disparity (H, W) float32


class StackSampler:
    """Draws (sources, truth) pairs from sharp images.

    Parameters
    ----------
    items : sequence of NaturalItem
        The images to draw from (one split).
    weights : dict, optional
        Probability of each source set (renormalised over the sets present).
    max_blur : float
        Largest defocus radius of a depth render, in pixels.
    grey_probability : float
        Share of stacks turned grey (3 equal channels), as grey stacks are fed to the network.
    kinds : tuple of str
        Blur kinds of the mask-based stacks (`mfif.data.masks.PSF_KINDS`); depth renders are
        always disks.
    realism : Realism, optional
        Noise, JPEG, alignment residue and layered occlusion (`mfif.data.realism`); none by
        default.
    """

    def __init__(
        self,
        items: Sequence[NaturalItem],
        *,
        weights: dict[str, float] | None = None,
        max_blur: float = 8.0,
        grey_probability: float = 0.1,
        kinds: tuple[str, ...] = PSF_KINDS,
        realism: Realism | None = None,
    ) -> None:
        self.realism = realism or Realism()
        self.by_source: dict[str, list[NaturalItem]] = {}
        for item in items:
            self.by_source.setdefault(item.source, []).append(item)
        weights = weights or SOURCE_WEIGHTS
        self.sources = sorted(s for s in self.by_source if weights.get(s, 0) > 0)
        if not self.sources:
            raise ValueError("No images to draw training stacks from.")
        total = sum(weights[s] for s in self.sources)
        self.probabilities = [weights[s] / total for s in self.sources]
        self.max_blur = max_blur
        self.grey_probability = grey_probability
        self.kinds = tuple(kinds)
        self._cache: dict[str, _Loaded] = {}

    def description(self) -> dict:
        """What the sampler draws from, for manifests: images per set and the settings."""
        return {
            "images": {s: len(self.by_source[s]) for s in self.sources},
            "set_probabilities": dict(
                zip(self.sources, (round(p, 4) for p in self.probabilities), strict=True)
            ),
            "max_blur": self.max_blur,
            "grey_probability": self.grey_probability,
            "blurs": ", ".join(_BLUR_RANGES[kind] for kind in self.kinds)
            + "; depth renders: disk, strongest radius 2 to max_blur",
            "transitions": "hard or Gaussian sigma 0.5-3 px, half each",
            "crops": "random square crops with a 16 px margin for the blur, horizontal flips",
            **({"realism": self.realism.as_dict()} if self.realism.active else {}),
        }

    def _load(self, item: NaturalItem) -> _Loaded:
        key = str(item.image)
        if key not in self._cache:
            image, _ = read_image(item.image)
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=2)
            companion = None
            if item.kind == "mask":
                mask, _ = read_image(item.companion)
                companion = (mask if mask.ndim == 2 else mask.mean(axis=2)) >= 0.5  # >= 128
            elif item.kind == "depth":
                raw, bits = read_image(item.companion)
                raw = raw if raw.ndim == 2 else raw[..., 0]
                scale = 255.0 if bits == 8 else 65535.0
                companion = fill_unknown_disparity(raw.astype(np.float64) * scale)
                companion = companion.astype(np.float32)
            self._cache[key] = _Loaded((image * 255 + 0.5).astype(np.uint8), companion)
        return self._cache[key]

    def draw(
        self, rng: np.random.Generator, size: int, count: int = 2, *, targets: bool = False
    ) -> tuple[np.ndarray, ...]:
        """One stack.

        Parameters
        ----------
        rng : numpy Generator
        size : int
            Side of the square crop, in pixels.
        count : int
            Number of sources K >= 2.
        targets : bool
            Also return the decision targets.

        Returns
        -------
        sources : ndarray of shape (K, size, size, 3), float32 in [0, 1]
        truth : ndarray of shape (size, size, 3), float32 in [0, 1]
        shares : ndarray of shape (K, size, size), float32 in [0, 1], with ``targets``
            Per pixel, the share each source holds in focus; they sum to 1. Mask stacks: the
            softened region indicators of UFA-Fuse eq. (11) (between 0 and 1 only in the
            transition band). Depth renders: 1 for the source with the smallest blur radius;
            pixels where the two smallest radii are within half a pixel are shared equally,
            as no source is sharper there.
        """
        source = self.sources[int(rng.choice(len(self.sources), p=self.probabilities))]
        candidates = self.by_source[source]
        item = candidates[int(rng.integers(len(candidates)))]
        loaded = self._load(item)
        image, companion = _crop(loaded, rng, size + 2 * _MARGIN)
        if rng.random() < 0.5:
            image = image[:, ::-1]
            companion = companion[:, ::-1] if companion is not None else None
        image = np.ascontiguousarray(image, dtype=np.float32) / 255.0
        if rng.random() < self.grey_probability:
            grey = image @ np.array([0.299, 0.587, 0.114], np.float32)
            image = np.repeat(grey[..., None], 3, axis=2)
        truth = image
        layered = self.realism.layered
        if item.kind == "depth":
            sources, shares = self._depth_sources(image, companion, rng, count)
        else:
            mask = companion if item.kind == "mask" else random_smooth_mask(rng, image.shape[:2])
            mask = np.ascontiguousarray(mask)
            if layered > 0 and rng.random() < layered:
                sources, shares, truth = _layered_sources(image, mask, rng, count, self.max_blur)
            else:
                sources, shares = _mask_sources(image, mask, rng, count, self.kinds)
        if self.realism.active:
            sources = self.realism.degrade(sources, rng)
        inner = slice(_MARGIN, _MARGIN + size)
        drawn = (
            np.ascontiguousarray(sources[:, inner, inner]),
            np.ascontiguousarray(truth[inner, inner]),
        )
        if targets:
            drawn += (np.ascontiguousarray(shares[:, inner, inner], dtype=np.float32),)
        return drawn

    def _depth_sources(
        self, image: np.ndarray, disparity: np.ndarray, rng: np.random.Generator, count: int
    ) -> np.ndarray:
        low, high = np.quantile(disparity, [0.02, 0.98])
        if high - low < 1e-3:  # a flat crop: a random blur strength on an even spread
            low, high = float(disparity.min()) - 1.0, float(disparity.max()) + 1.0
        focus = np.sort(rng.uniform(low, high, count))
        strongest = rng.uniform(2.0, self.max_blur)
        per_disparity = strongest / max(high - low, 1e-3)
        sources = render_depth_stack(
            image, disparity, focus, blur_per_disparity=per_disparity, max_radius=self.max_blur
        )
        radii = np.stack(
            [np.minimum(per_disparity * np.abs(disparity - f), self.max_blur) for f in focus]
        )
        return sources, _sharpest_shares(radii)


def _crop(
    loaded: _Loaded, rng: np.random.Generator, side: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """A random square crop of ``side`` pixels; an image smaller than that is padded by
    reflection first. Mask crops covering less than 10 % of either region are redrawn a few
    times, as they teach little."""
    image, companion = loaded.image, loaded.companion
    height, width = image.shape[:2]
    if height < side or width < side:
        pad = ((0, max(0, side - height)), (0, max(0, side - width)))
        image = np.pad(image, (*pad, (0, 0)), mode="reflect")
        companion = np.pad(companion, pad, mode="reflect") if companion is not None else None
        height, width = image.shape[:2]
    for _ in range(4):
        top = int(rng.integers(height - side + 1))
        left = int(rng.integers(width - side + 1))
        part = companion[top : top + side, left : left + side] if companion is not None else None
        if part is None or part.dtype != bool or 0.1 <= part.mean() <= 0.9:
            break
    return image[top : top + side, left : left + side], part


def _sharpest_shares(radii: np.ndarray, tolerance: float = 0.5) -> np.ndarray:
    """(K, H, W) blur radii -> (K, H, W) shares: 1 for the sharpest source; the sources within
    ``tolerance`` pixels of the smallest radius share a pixel equally when there are several."""
    near_best = radii <= radii.min(axis=0, keepdims=True) + tolerance
    return (near_best / near_best.sum(axis=0, keepdims=True)).astype(np.float32)


def _layered_sources(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, count: int, max_blur: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K occlusion-aware sources of the masked object in front of the image
    (`mfif.data.layered.render_layers`: the object sharp in the first, its blur spreading over
    the background in the others, the background never sharp), their shares and the truth (the
    sharp object over the background at its least blur). Per pixel the source closest to the
    truth takes the share, sources within a level of it sharing equally: near the object no
    source is right, and this is what the decision should pick there."""
    softness = float(rng.uniform(0.5, 1.5))
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), softness)
    strongest = float(rng.uniform(2.0, max_blur))
    frames, truth, _ = render_layers(image, alpha, image, planes=count, max_blur=strongest)
    sources = np.stack(frames)
    errors = np.stack(
        [cv2.GaussianBlur(np.abs(frame - truth).mean(axis=2), (0, 0), 2.0) for frame in frames]
    )
    near = errors <= errors.min(axis=0) + 1.0 / 255.0
    shares = near / near.sum(axis=0)
    return sources, shares.astype(np.float32), truth


def _mask_sources(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    count: int,
    kinds: tuple[str, ...] = PSF_KINDS,
) -> tuple[np.ndarray, np.ndarray]:
    """K sources and their in-focus shares (K, H, W) from region labels: the object is region
    0, the background is split into regions 1..K-1 by random smooth masks. UFA-Fuse eq. (11),
    generalised: source k is w_k ⊙ I + (1 - w_k) ⊙ blur_k(I), with w_k the softened indicator
    of region k."""
    labels = np.where(mask, 0, 1).astype(np.int32)
    for region in range(2, count):
        split = random_smooth_mask(rng, mask.shape) & (labels >= 1)
        labels[split] = region
    transition = float(rng.choice([0.0, rng.uniform(0.5, 3.0)]))
    weights = np.stack([(labels == k).astype(np.float32) for k in range(count)])
    if transition > 0:
        weights = np.stack(
            [
                cv2.GaussianBlur(w, (0, 0), transition, borderType=cv2.BORDER_REFLECT)
                for w in weights
            ]
        )
        weights /= np.maximum(weights.sum(axis=0, keepdims=True), 1e-6)
    sources = []
    for weight in weights:
        blurred = blur(image, draw_blur(rng, kinds))
        sources.append(weight[..., None] * image + (1.0 - weight[..., None]) * blurred)
    return np.clip(np.stack(sources), 0.0, 1.0), weights
