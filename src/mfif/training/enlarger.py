"""The learned ×2 start's training recipe (`mfif.models.enlarger.Enlarger`): sharp photographs
of the training split of ``datasets/natural`` made smaller under one of several degradation
models, the network taught to give back the photograph's luminance (L1).

Two kinds of patch keep it from inventing detail where an image has none to give: photographs
blurred before they are made smaller (soft images stay soft when enlarged) and random
textures of blurred noise (fine detail that does not follow edges).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..color import luminance
from ..data.natural import NaturalItem, natural_items, split_items
from ..errors import OptionError
from ..io import read_image
from ..resample import DEGRADATIONS, downsample
from .fit import Schedule, fit
from .natural_runs import natural_fit_config, one_data_folder
from .recipes import NATURAL_LICENCE, Trainer, recipe_field, register_trainer

if TYPE_CHECKING:  # torch is imported when training runs, not when its flags are built
    import torch

    from ..models.enlarger import Enlarger

__all__ = [
    "EnlargerRecipe",
    "ENLARGER_RECIPES",
    "Photographs",
    "enlargement_batch",
    "enlargement_scores",
    "train_enlarger",
]

_SOURCES = ("bsds500", "pascal_s")  # still photographs (DAVIS frames are soft video frames)


@dataclass(frozen=True)
class EnlargerRecipe:
    """Settings of an `Enlarger` training run."""

    width: int = recipe_field(32, "channels of the hidden layers", low=1, high=256)
    depth: int = recipe_field(6, "hidden 3x3 layers", low=0, high=32)
    patch: int = recipe_field(48, "side of the small patches", low=8, high=1024)
    batch_size: int = recipe_field(32, "patches per step", low=1, high=4096)
    learning_rate: float = recipe_field(
        1e-3, "Adam's first learning rate", low=0.0, high=1.0, low_open=True
    )
    decay_every: int = recipe_field(2000, "steps between learning-rate decays (0: none)")
    decay_factor: float = recipe_field(2.2, "divisor of each decay", low=1.0, high=1000.0)
    degradations: str = recipe_field(
        "lanczos2,box,bicubic", "models the photographs are made smaller by, comma-separated"
    )
    soft: float = recipe_field(
        0.4, "share of photographs blurred before they are made smaller", high=1.0
    )
    blur: float = recipe_field(
        4.0, "largest Gaussian sigma of those blurs, full-resolution pixels", high=16.0
    )
    enlarged_before: float = recipe_field(
        0.5,
        "share of those soft patches that are photographs enlarged before (made smaller by "
        "1.5-4 and enlarged back by bilinear or bicubic interpolation) instead of blurred",
        high=1.0,
    )
    texture: float = recipe_field(0.15, "share of random blurred-noise textures", high=1.0)
    steps: int = recipe_field(6000, "optimiser steps of a full run", low=1)

    def models(self) -> tuple[str, ...]:
        """The degradation models, checked (`mfif.resample.DEGRADATIONS`)."""
        from ..resample import check_degradation

        names = tuple(name.strip() for name in self.degradations.split(",") if name.strip())
        if not names:
            raise OptionError("--degradations names no model; give one or more.")
        try:
            return tuple(check_degradation(name) for name in names)
        except ValueError as error:
            raise OptionError(f"--degradations: {error} (one of {DEGRADATIONS}).") from None


ENLARGER_RECIPES = {"x2": EnlargerRecipe()}


class Photographs:
    """The luminance of sharp photographs, each made smaller under every model once.

    Parameters
    ----------
    items : sequence of NaturalItem
        The photographs (their ``split`` is not checked here).
    models : tuple of str
        Degradation models (`mfif.resample.DEGRADATIONS`).
    """

    def __init__(self, items: Sequence[NaturalItem], models: tuple[str, ...]) -> None:
        self.models = models
        self.truths: list[np.ndarray] = []
        self.small: list[list[np.ndarray]] = []
        for item in items:
            image = read_image(item.image)[0]
            grey = image if image.ndim == 2 else luminance(image)
            grey = np.ascontiguousarray(grey[: grey.shape[0] // 2 * 2, : grey.shape[1] // 2 * 2])
            self.truths.append(grey.astype(np.float32))
            self.small.append([np.clip(downsample(grey, 2, m), 0, 1) for m in models])
        if not self.truths:
            raise OptionError("No training photographs: the data folder's training split is empty.")

    def smallest_side(self) -> int:
        return min(min(truth.shape) for truth in self.truths) // 2


def _texture(rng: np.random.Generator, side: int) -> np.ndarray:
    """Blurred uniform noise of a random width and contrast, (side, side) float32 in [0, 1]."""
    import cv2

    noise = cv2.GaussianBlur(
        rng.random((side, side)).astype(np.float32), (0, 0), float(rng.uniform(0.5, 3.0))
    )
    noise = (noise - noise.min()) / (noise.max() - noise.min() + 1e-6)
    low = rng.uniform(0.0, 0.6)
    return (low + noise * rng.uniform(0.1, 1.0 - low)).astype(np.float32)


def _enlarged_before(window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``window`` made smaller by a random factor of 1.5-4 (area averaging) and enlarged back
    by bilinear or bicubic interpolation: an image that a camera or a program enlarged."""
    import cv2

    factor = float(rng.uniform(1.5, 4.0))
    height, width = window.shape
    small = cv2.resize(
        window, (max(2, round(width / factor)), max(2, round(height / factor))),
        interpolation=cv2.INTER_AREA,
    )  # fmt: skip
    interpolation = cv2.INTER_LINEAR if rng.random() < 0.5 else cv2.INTER_CUBIC
    return np.clip(cv2.resize(small, (width, height), interpolation=interpolation), 0, 1)


def _pair(
    photographs: Photographs, rng: np.random.Generator, recipe: EnlargerRecipe
) -> tuple[np.ndarray, np.ndarray]:
    """One (small (p, p), truth (2p, 2p)) pair."""
    import cv2

    side = recipe.patch
    index = int(rng.integers(len(photographs.truths)))
    model = int(rng.integers(len(photographs.models)))
    truth_image = photographs.truths[index]
    kind = rng.random()
    if kind < recipe.soft + recipe.texture:
        if kind < recipe.soft:
            sigma = float(rng.uniform(min(0.4, recipe.blur), recipe.blur))
            margin = int(np.ceil(3 * sigma)) + 1  # the blur's reach beyond the patch
            reach = 2 * side + 2 * margin
            top = int(rng.integers(max(1, truth_image.shape[0] - reach + 1)))
            left = int(rng.integers(max(1, truth_image.shape[1] - reach + 1)))
            window = truth_image[top : top + reach, left : left + reach]
            if rng.random() < recipe.enlarged_before:
                blurred = _enlarged_before(window, rng)
            else:
                blurred = cv2.GaussianBlur(window, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
            truth = blurred[margin : margin + 2 * side, margin : margin + 2 * side]
        else:
            truth = _texture(rng, 2 * side)
        truth = np.ascontiguousarray(truth, dtype=np.float32)
        small = np.clip(downsample(truth, 2, photographs.models[model]), 0, 1)
    else:
        small_image = photographs.small[index][model]
        top = int(rng.integers(small_image.shape[0] - side + 1))
        left = int(rng.integers(small_image.shape[1] - side + 1))
        small = small_image[top : top + side, left : left + side]
        truth = truth_image[2 * top : 2 * top + 2 * side, 2 * left : 2 * left + 2 * side]
    turn, flip = int(rng.integers(4)), rng.random() < 0.5

    def augmented(plane: np.ndarray) -> np.ndarray:
        plane = np.rot90(plane, turn)
        return np.ascontiguousarray(plane[:, ::-1] if flip else plane)

    return augmented(small), augmented(truth)


def enlargement_batch(
    photographs: Photographs, rng: np.random.Generator, recipe: EnlargerRecipe
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(small (B, 1, p, p), its Lanczos-4 interpolation (B, 1, 2p, 2p), truth (B, 1, 2p, 2p))
    float32 tensors, every draw from ``rng``."""
    import cv2
    import torch

    pairs = [_pair(photographs, rng, recipe) for _ in range(recipe.batch_size)]
    size = (2 * recipe.patch, 2 * recipe.patch)
    small = np.stack([s for s, _ in pairs])[:, None]
    interpolated = np.stack(
        [cv2.resize(s, size, interpolation=cv2.INTER_LANCZOS4) for s, _ in pairs]
    )[:, None]
    truth = np.stack([t for _, t in pairs])[:, None]
    return torch.from_numpy(small), torch.from_numpy(interpolated), torch.from_numpy(truth)


def enlargement_scores(
    model: Enlarger,
    truths: Sequence[np.ndarray],
    models: Sequence[str] = ("lanczos2", "box"),
    *,
    baseline: bool = True,
) -> dict[str, float]:
    """Mean PSNR (dB) of ×2 back-projection (onto Lanczos-2, the default) from the learned
    start and, with ``baseline``, from Lanczos-4 of each truth made smaller under each of
    ``models``; truths (H, W[, C]) float32 in [0, 1] with even sides."""
    from ..learned_start import learned_start
    from ..metrics import psnr
    from ..resample import back_projected_upsample

    scores: dict[str, list[float]] = {}
    for name in models:
        for truth in truths:
            small = np.clip(downsample(truth, 2, name), 0, 1)
            starts = [("learned", learned_start(small, model=model))]
            if baseline:
                starts.append(("Lanczos-4", "lanczos"))
            for label, begin in starts:
                enlarged = back_projected_upsample(small, 2, degradation="lanczos2", start=begin)
                key = f"PSNR {label} start, made by {name}"
                scores.setdefault(key, []).append(psnr(enlarged, truth))
    return {key: round(float(np.mean(values)), 3) for key, values in scores.items()}


def _even(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2])


def train_enlarger(
    data: str | os.PathLike | Sequence[str | os.PathLike],
    checkpoint: str | os.PathLike,
    *,
    recipe: EnlargerRecipe = ENLARGER_RECIPES["x2"],
    seed: int = 0,
    checkpoint_every: int = 200,
    validate: bool | Sequence[str | os.PathLike] = True,
    validate_every: int = 500,
    device: str | None = None,
    progress: bool = True,
) -> tuple[Enlarger, object, dict]:
    """Train an `Enlarger` on the training split's photographs of ``data`` (a
    ``datasets/natural`` folder); resumable from ``checkpoint``.

    Validation (True): back-projection from the learned start on 8 photographs of the
    validation split, made smaller by Lanczos-2 (mean PSNR, dB); folders of scenes with a
    ground truth replace them.

    Returns
    -------
    model, history, record
        ``record`` holds the split and the data's description for the manifest.
    """
    import torch

    from ..models.enlarger import Enlarger

    data = one_data_folder(data, "The enlarger")
    items = [item for item in natural_items(data) if item.source in _SOURCES]
    photographs = Photographs([item for item in items if item.split == "train"], recipe.models())
    if recipe.patch > photographs.smallest_side() - 8:
        raise OptionError(
            f"The patch side {recipe.patch} does not fit the smallest training photograph made "
            "smaller; use a smaller patch."
        )
    torch.manual_seed(seed)
    model = Enlarger(recipe.width, recipe.depth)

    def loss_of_step(net, numpy_generator, torch_generator):
        small, interpolated, truth = enlargement_batch(photographs, numpy_generator, recipe)
        device_of_net = next(net.parameters()).device
        enlarged = net(small.to(device_of_net), interpolated.to(device_of_net))
        return (enlarged - truth.to(device_of_net)).abs().mean(), {}

    check, described = None, None
    if validate:
        if isinstance(validate, bool):
            chosen = [item for item in items if item.split == "validation"][:8]
            truths = [_even(read_image(item.image)[0]) for item in chosen]
            described = "the first 8 photographs of the validation split"
        else:
            from ..scoring import ground_truth_cases

            truths = [_even(truth) for _, truth in ground_truth_cases(validate, limit=8)]
            described = ", ".join(map(str, validate)) + " (first 8 ground truths)"

        def check(net) -> float:
            scores = enlargement_scores(net, truths, ("lanczos2",), baseline=False)
            return scores["PSNR learned start, made by lanczos2"]

    config, metadata = natural_fit_config(
        recipe,
        data,
        checkpoint=checkpoint,
        seed=seed,
        checkpoint_every=checkpoint_every,
        validate_every=validate_every,
        device=device,
    )
    schedule = Schedule(
        recipe.learning_rate, decay_every=recipe.decay_every, decay_factor=recipe.decay_factor
    )
    history = fit(
        model, loss_of_step, schedule, config, validate=check, metadata=metadata, progress=progress
    )
    record = {
        "split": split_items(items),
        "use": f"luminance of the training split's {', '.join(_SOURCES)} photographs made "
        f"smaller by {recipe.degradations}; {recipe.soft:g} of the patches soft first (of "
        f"those, {recipe.enlarged_before:g} made smaller by 1.5-4 and enlarged back, the rest "
        f"blurred by a Gaussian of sigma up to {recipe.blur:g} px), {recipe.texture:g} random "
        "blurred-noise textures; flips and 90-degree turns",
    }
    if described:
        record["validation"] = {
            "set": described,
            "metric": "PSNR (dB) of x2 back-projection from the learned start, sources made "
            "by Lanczos-2",
        }
    return model, history, record


def score_exported(model: Enlarger, roots: Sequence[str | os.PathLike]) -> list[dict]:
    """The export's scores: `enlargement_scores` of each set's ground truths."""
    from ..scoring import ground_truth_cases

    scores = []
    for root in roots:
        truths = [_even(truth) for _, truth in ground_truth_cases([root])]
        scores.append(
            {"set": str(root), "scenes": len(truths), "metrics": enlargement_scores(model, truths)}
        )
    return scores


register_trainer(
    Trainer(
        name="enlarger",
        summary="the learned x2 start of back-projection, on sharp photographs",
        description="Train the enlarger (a learned start for mfif's x2 back-projection) on the "
        "training split's photographs of a datasets/natural folder; resumes from --checkpoint "
        "when it exists.",
        recipes=ENLARGER_RECIPES,
        default_recipe="x2",
        data_help="a datasets/natural folder (index.csv, pascal_s/, bsds500/)",
        train=train_enlarger,
        architecture="enlarger",
        methods=(),
        licence=NATURAL_LICENCE,
        score=score_exported,
    )
)
