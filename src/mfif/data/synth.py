"""`mfif synth`: write ground-truth focus stacks from sharp images and masks or disparities.

Both writers produce ``OUT/<scene>/{A,B[,C,...],GT}.png`` (the scene is named after the input
image's file stem) and ``OUT/synth.json`` with every parameter, the seed and, per scene, what
was drawn. The same inputs and seed give the same files.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import ImageReadError, MfifError, OptionError, StackError
from ..io import IMAGE_SUFFIXES, expand_inputs, output_bit_depth, read_image, to_integer
from ..outputs import OutputSet
from .camera import Capture, jpeg_bytes
from .masks import PSF_KINDS, draw_blur, mask_pair
from .misalign import Misalignment, misalign
from .synthetic import fill_unknown_disparity, focus_planes, render_depth_stack

__all__ = [
    "synthesize_from_masks",
    "synthesize_from_depth",
    "synthesize_scenes",
    "companions",
    "check_common",
    "check_render",
    "size_mismatch",
    "scene_rng",
    "LABELS_NAME",
    "SOURCE_NAMES",
]

SOURCE_NAMES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def scene_rng(seed: int, scene: str) -> np.random.Generator:
    """A generator that depends only on the seed and the scene name (not on processing order)."""
    return np.random.default_rng([seed, zlib.crc32(scene.encode("utf-8"))])


def companions(
    images: Sequence[str | os.PathLike], folder: str | os.PathLike, what: str
) -> tuple[list[tuple[str, Path, Path]], dict[str, str]]:
    """Pairs (scene, image, companion) matched by file stem; scenes without one are listed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"The {what} folder {folder} does not exist.")
    by_stem = {p.stem: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    pairs, missing = [], {}
    for image in expand_inputs(images):
        if not image.is_file():
            what_it_is = "is not a file" if image.exists() else "does not exist"
            raise ImageReadError(f"The image {image} {what_it_is}.")
        if image.stem in by_stem:
            pairs.append((image.stem, image, by_stem[image.stem]))
        else:
            missing[image.stem] = f"no {what} named {image.stem}.* in {folder}"
    if not pairs:
        raise ImageReadError(f"No image has a matching {what} in {folder}.")
    return pairs, missing


def size_mismatch(what: str, companion: np.ndarray, image: np.ndarray) -> str:
    """Why a scene is skipped when its companion (mask, disparity map) has another size."""
    return (
        f"the {what} is {companion.shape[1]}x{companion.shape[0]} but the image is "
        f"{image.shape[1]}x{image.shape[0]}"
    )


def _write_scene(
    outputs: OutputSet,
    out: Path,
    scene: str,
    sources: Sequence[np.ndarray],
    truth: np.ndarray,
    bit_depth: int,
    capture: Capture,
    labels: np.ndarray | None = None,
) -> None:
    folder = outputs.folder(out / scene)
    bit_depth = output_bit_depth(capture.suffix, bit_depth)
    for name, source in zip(SOURCE_NAMES, sources, strict=False):
        target = outputs.file(folder / f"{name}{capture.suffix}")
        if capture.jpeg is None:
            outputs.write_image(target, source, bit_depth=bit_depth)
        else:
            outputs.write_bytes(target, jpeg_bytes(source, capture.jpeg))
    # The decoded input, written losslessly: bit for bit the sharp image.
    outputs.write_image(outputs.file(folder / "GT.png"), to_integer(truth, bit_depth))
    if labels is not None:
        outputs.write_image(outputs.file(folder / f"{LABELS_NAME}.png"), labels.astype(np.uint8))


SceneMaker = Callable[[str, Path, Path], "tuple[list[np.ndarray], np.ndarray, int, dict] | str"]
# A scene's label image: 0 background, 1 the band around the object where its defocus spreads
# (the halo band), 2 the object (`mfif synth layered`); benchmarks score each region.
LABELS_NAME = "LABELS"


def synthesize_scenes(
    out: Path,
    pairs: list[tuple[str, Path, Path]],
    skipped: dict[str, str],
    make_scene: SceneMaker,
    header: dict,
    misalignment: Misalignment | None,
    capture: Capture,
) -> dict:
    """Make and write every scene, then OUT/synth.json; all together or nothing.

    ``make_scene(scene, image, companion)`` returns (sources, truth, bit depth, manifest entry)
    or the reason the scene is skipped; an entry may carry ``"labels"``, an (H, W) uint8 label
    image (written as LABELS.png, cropped as the truth). The frames are moved (``misalignment``)
    and then recorded (``capture``: sensor noise after the motion, as a camera adds it).
    """
    protected = [path for _, image, companion in pairs for path in (image, companion)]
    scenes = {}
    with OutputSet(protected) as outputs:
        outputs.folder(out)
        for scene, image_path, companion_path in _progress(pairs, f"synth {header['kind']}"):
            try:
                made = make_scene(scene, image_path, companion_path)
            except MfifError as error:  # an unreadable input skips its scene only
                made = str(error).rstrip(".")
            if isinstance(made, str):
                skipped[scene] = made
                continue
            sources, truth, bit_depth, entry = made
            labels = entry.pop("labels", None)
            if misalignment is not None and misalignment.active:
                rng = np.random.default_rng([header["seed"], zlib.crc32(scene.encode()), 1])
                sources, truth, entry["misalignment"] = misalign(sources, truth, misalignment, rng)
                if labels is not None:
                    top, left, height, width = entry["misalignment"]["crop"]
                    labels = labels[top : top + height, left : left + width]
            rng = np.random.default_rng([header["seed"], zlib.crc32(scene.encode()), 2])
            sources = [capture.add_noise(source, rng) for source in sources]
            _write_scene(outputs, out, scene, sources, truth, bit_depth, capture, labels)
            scenes[scene] = entry
        if not scenes:
            first = next(iter(skipped.items()), ("", "no inputs"))
            raise StackError(
                f"No scene could be made, so nothing was written ({len(skipped)} skipped; "
                f"{first[0]}: {first[1]})."
            )
        if misalignment is not None and misalignment.active:
            header = {**header, "misalignment": asdict(misalignment)}
        header = {**header, "capture": capture.as_dict()}
        manifest = {**header, "scenes": scenes, "skipped": skipped}
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        outputs.write_text(outputs.file(out / "synth.json", image=False), text)
    return manifest


def check_render(
    *, planes: int | None = None, max_blur: float | None = None, transition: float | None = None
) -> None:
    """`OptionError` for a number of focus planes, a blur radius or a soft edge out of range
    (None: not checked)."""
    if planes is not None and not 2 <= planes <= len(SOURCE_NAMES):
        raise OptionError(f"planes must be between 2 and {len(SOURCE_NAMES)}; got {planes}.")
    if max_blur is not None and not (0 < max_blur <= 100):
        raise OptionError(f"max_blur must be a radius in pixels > 0 and ≤ 100; got {max_blur}.")
    if transition is not None and not (transition >= 0 and np.isfinite(transition)):
        raise OptionError(f"transition must be a number of pixels ≥ 0; got {transition}.")


def check_common(seed: int, limit: int | None) -> None:
    """`OptionError` for a negative seed or a limit below one scene."""
    if seed < 0:
        raise OptionError(f"seed must be ≥ 0; got {seed}.")
    if limit is not None and limit < 1:
        raise OptionError(f"limit must be at least 1 scene; got {limit}.")


def _progress(items: list, description: str):
    from ..progress import progress_bar

    return progress_bar(items, label=description, unit="scene", leave=True)


def synthesize_from_masks(
    images: Sequence[str | os.PathLike],
    masks: str | os.PathLike,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    kinds: Sequence[str] = PSF_KINDS,
    transition: float = 1.5,
    noise: float = 0.0,
    jpeg: int | None = None,
    min_fraction: float = 0.01,
    max_fraction: float = 0.99,
    limit: int | None = None,
    misalignment: Misalignment | None = None,
) -> dict:
    """Write object/background pairs (see `mfif.data.masks.mask_pair`).

    Parameters
    ----------
    images : sequence of path-like
        Sharp images, folders or globs. Each needs a mask with the same stem in ``masks``
        (non-zero = object).
    masks : path-like
        Folder of masks.
    out : path-like
        Output folder.
    seed : int
        Seed of every random draw (blur kind and strength, noise).
    kinds : sequence of {"gaussian", "mean", "disk"}
        Blur kinds to draw from.
    transition : float
        σ in pixels of the soft transition at the mask boundary (0 = hard).
    noise : float
        σ of the sensor noise at mid-grey, in 8-bit levels (0 = none): shot plus read noise,
        added after any motion (`mfif.data.camera.Capture`).
    jpeg : int, optional
        Write the sources as JPEG of this quality.
    min_fraction, max_fraction : float
        Masks whose object covers less or more than this share of the image are skipped: one
        source would be nearly the ground truth and the pair would test nothing.
    limit : int, optional
        At most this many scenes.
    misalignment : Misalignment, optional
        Breathing, drift, rotation and exposure flicker of the frames (`mfif.data.misalign`);
        the ground truth is then cropped to the region every frame covers.

    Returns
    -------
    dict
        The manifest written to ``OUT/synth.json``.
    """
    check_common(seed, limit)
    capture = Capture(noise, jpeg)
    check_render(transition=transition)
    unknown = set(kinds) - set(PSF_KINDS)
    if unknown or not kinds:
        raise OptionError(f"Blur kinds must be among {', '.join(PSF_KINDS)}; got {list(kinds)}.")
    pairs, skipped = companions(images, masks, "mask")
    pairs = pairs[:limit] if limit else pairs

    def make_scene(scene: str, image_path: Path, mask_path: Path):
        image, bit_depth = read_image(image_path)
        mask_image, _ = read_image(mask_path)
        mask = (mask_image if mask_image.ndim == 2 else mask_image.mean(axis=2)) > 0.5
        if mask.shape != image.shape[:2]:
            return size_mismatch("mask", mask, image)
        fraction = float(mask.mean())
        if not min_fraction <= fraction <= max_fraction:
            return f"object covers {fraction:.1%} of the image"
        rng = scene_rng(seed, scene)
        spec = draw_blur(rng, tuple(kinds))
        near, far = mask_pair(image, mask, spec, transition=transition)
        entry = {
            "image": str(image_path),
            "mask": str(mask_path),
            "object_fraction": round(fraction, 6),
            "blur": spec.as_dict(),
            "sources": {"A": "object sharp", "B": "background sharp"},
        }
        return [near, far], image, bit_depth, entry

    header = {
        "kind": "mask",
        "seed": seed,
        "parameters": {
            "kinds": list(kinds),
            "transition": transition,
            "min_fraction": min_fraction,
            "max_fraction": max_fraction,
        },
    }
    return synthesize_scenes(Path(out), pairs, skipped, make_scene, header, misalignment, capture)


def synthesize_from_depth(
    images: Sequence[str | os.PathLike],
    depths: str | os.PathLike,
    out: str | os.PathLike,
    *,
    planes: int = 2,
    max_blur: float = 8.0,
    seed: int = 0,
    noise: float = 0.0,
    jpeg: int | None = None,
    limit: int | None = None,
    misalignment: Misalignment | None = None,
) -> dict:
    """Write depth-rendered stacks (see `mfif.data.synthetic.render_depth_stack`).

    Parameters
    ----------
    images : sequence of path-like
        Sharp images, folders or globs; each needs a disparity map with the same stem in
        ``depths`` (8- or 16-bit integer disparity in pixels, larger = nearer, 0 = unknown).
    depths : path-like
        Folder of disparity maps.
    out : path-like
        Output folder.
    planes : int
        Number of focus planes N >= 2, at the centres of N equal-population disparity bins.
    max_blur : float
        Blur radius, in pixels, across the scene's whole disparity range: the thin-lens
        constant is k = max_blur / (d_max - d_min) and a pixel's radius is k |d - d_focus|.
    seed : int
        Seed of the optional noise.
    noise, jpeg
        As for `synthesize_from_masks`.
    limit : int, optional
        At most this many scenes.
    misalignment : Misalignment, optional
        As for `synthesize_from_masks`.

    Returns
    -------
    dict
        The manifest written to ``OUT/synth.json``.
    """
    check_common(seed, limit)
    capture = Capture(noise, jpeg)
    check_render(planes=planes, max_blur=max_blur)
    pairs, skipped = companions(images, depths, "disparity map")
    pairs = pairs[:limit] if limit else pairs

    def make_scene(scene: str, image_path: Path, depth_path: Path):
        image, bit_depth = read_image(image_path)
        raw, depth_bits = read_image(depth_path)
        if depth_bits not in (8, 16):
            return "disparity maps must hold 8- or 16-bit integers"
        raw = raw if raw.ndim == 2 else raw[..., 0]
        if raw.shape != image.shape[:2]:
            return size_mismatch("disparity map", raw, image)
        disparity = raw.astype(np.float64) * (255.0 if depth_bits == 8 else 65535.0)
        known = disparity > 0
        if known.mean() < 0.5:
            return f"only {known.mean():.0%} of the disparities are known"
        filled = fill_unknown_disparity(disparity)
        spread = float(filled.max() - filled.min())
        if spread <= 0:
            return "the scene is flat (one disparity)"
        focus = focus_planes(filled, planes)
        k = max_blur / spread
        sources = render_depth_stack(
            image, filled, focus, blur_per_disparity=k, max_radius=max_blur
        )
        entry = {
            "image": str(image_path),
            "disparity": str(depth_path),
            "known_disparity_fraction": round(float(known.mean()), 6),
            "disparity_range": [float(filled.min()), float(filled.max())],
            "focus_disparities": {
                n: round(float(d), 4) for n, d in zip(SOURCE_NAMES, focus, strict=False)
            },
            "blur_per_disparity": k,
        }
        return sources, image, bit_depth, entry

    header = {
        "kind": "depth",
        "seed": seed,
        "parameters": {"planes": planes, "max_blur": max_blur, "psf": "disk"},
    }
    return synthesize_scenes(Path(out), pairs, skipped, make_scene, header, misalignment, capture)
