"""How much of ×2 is enlargement alone, and what the degradation model is worth: the ground
truth of held-out scenes, downsampled by s under each ``--degradations`` model and enlarged back
by bicubic, Lanczos-4, back-projection onto the paper's Lanczos-2 and back-projection onto the
model the image was really made by (`mfif.resample`), PSNR against the truth. No fusion is
involved: this is the ceiling a fusion's enlargement reaches when its low-resolution image is
perfect.

``--smoothing 0`` is back-projection without its total-variation steps, as the README's tables
made before 2026-12-07's smoothing were measured.

    .venv/bin/python benchmarks/upsampling.py --sets pascal-mask davis-mask --limit 6
    .venv/bin/python benchmarks/upsampling.py --sets pascal-mask davis-mask middlebury-depth \
        --skip 4 --limit 6 --degradations lanczos2 bicubic box gaussian:1.2 gaussian:1.8 \
        --steps 3

``--degradations`` also takes the resizes of other libraries, which the images a user has may
have come from: ``opencv-area``, ``opencv-linear``, ``opencv-cubic`` (``cv2.resize``, which
does not filter before it samples with the last two) and ``pillow-bicubic``,
``pillow-lanczos`` (antialiased); ``--told MODEL ...`` adds back-projection onto each of those
`mfif.resample` models, for the table of what telling each model costs on each kind of image:

    .venv/bin/python benchmarks/upsampling.py --sets pascal-mask davis-mask middlebury-depth \
        --skip 4 --limit 6 --steps 3 --told lanczos2 bicubic box gaussian:0.8 \
        --degradations lanczos2 pillow-bicubic pillow-lanczos box opencv-cubic gaussian:0.8 \
        gaussian:1.2
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from mfif.metrics import psnr
from mfif.resample import SMOOTHING, back_projected_upsample, check_degradation, downsample

from _common import require_shared
from _heldout import cut_to_multiple, make_sets

# Other libraries' resizes by 1 / s: (image (H, W, C) float32, s) -> (H / s, W / s, C).
LIBRARY_RESIZES = {
    "opencv-area": lambda image, s: _opencv(image, s, cv2.INTER_AREA),
    "opencv-linear": lambda image, s: _opencv(image, s, cv2.INTER_LINEAR),
    "opencv-cubic": lambda image, s: _opencv(image, s, cv2.INTER_CUBIC),
    "pillow-bicubic": lambda image, s: _pillow(image, s, "BICUBIC"),
    "pillow-lanczos": lambda image, s: _pillow(image, s, "LANCZOS"),
}


def _opencv(image: np.ndarray, scale: int, interpolation: int) -> np.ndarray:
    size = (image.shape[1] // scale, image.shape[0] // scale)
    return cv2.resize(image, size, interpolation=interpolation)


def _pillow(image: np.ndarray, scale: int, kind: str) -> np.ndarray:
    from PIL import Image  # comes with scikit-image

    filter_ = getattr(Image.Resampling, kind)
    size = (image.shape[1] // scale, image.shape[0] // scale)
    planes = [
        np.asarray(Image.fromarray(image[..., c], mode="F").resize(size, filter_))
        for c in range(image.shape[2])
    ]
    return np.stack(planes, axis=-1)


def maker(name: str):
    """``--degradations`` item: an `mfif.resample` model or one of `LIBRARY_RESIZES`."""
    if name in LIBRARY_RESIZES:
        return name
    try:
        return check_degradation(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{error}, or one of {', '.join(LIBRARY_RESIZES)}"
        ) from None


def made(truth: np.ndarray, scale: int, name: str) -> np.ndarray:
    """``truth`` downsampled by ``scale`` the way ``name`` says, clipped to [0, 1]."""
    if name in LIBRARY_RESIZES:
        return np.clip(LIBRARY_RESIZES[name](truth, scale), 0, 1)
    return np.clip(downsample(truth, scale, name), 0, 1)


def columns(
    scale: int, degradation: str, steps: list[int], told: list[str], smoothing: float
) -> dict:
    """Each enlargement by name: (low image, full size) -> enlarged image (back-projection
    with ``smoothing``, `mfif.resample.back_projected_upsample`)."""
    found = {
        "bicubic": lambda low, size: cv2.resize(low, size, interpolation=cv2.INTER_CUBIC),
        "Lanczos-4": lambda low, size: cv2.resize(low, size, interpolation=cv2.INTER_LANCZOS4),
    }
    models = list(dict.fromkeys([*told, "lanczos2"]))
    if degradation not in LIBRARY_RESIZES and degradation not in models:
        models.append(degradation)
    for model in models:
        for n in steps:
            enlarge = _back_projection(scale, n, model, smoothing)
            found[f"back-projection onto {model}, {n} steps"] = enlarge
    return found


def _back_projection(scale: int, steps: int, model: str, smoothing: float):
    def enlarge(low: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return back_projected_upsample(
            low, scale, iterations=steps, degradation=model, smoothing=smoothing
        )

    return enlarge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["pascal-mask", "davis-mask"])
    parser.add_argument("--limit", type=int, default=6, help="scenes per set")
    parser.add_argument("--skip", type=int, default=0, help="scenes skipped first per set")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--degradations", nargs="+", type=maker, default=["lanczos2"])
    parser.add_argument("--told", nargs="*", type=check_degradation, default=[])
    parser.add_argument("--steps", nargs="+", type=int, default=[1, 2, 3, 5])
    parser.add_argument(
        "--smoothing",
        type=float,
        default=SMOOTHING,
        help="back-projection's total-variation weight (0: as before 2026-12-07's smoothing)",
    )
    args = parser.parse_args()
    sets = make_sets(require_shared())
    truths = []
    for set_name in args.sets:
        for _, truth in sets[set_name][args.skip : args.skip + args.limit]:
            truths.append(cut_to_multiple(truth, args.scale))
    print(f"×{args.scale}, {len(truths)} scenes ({', '.join(args.sets)}), PSNR against the truth")
    for degradation in args.degradations:
        print(f"\nmade by {degradation}\n\n| enlargement | PSNR |\n|---|---|")
        lows = [made(truth, args.scale, degradation) for truth in truths]  # once, not per column
        chosen = columns(args.scale, degradation, args.steps, args.told, args.smoothing)
        for name, enlarge in chosen.items():
            scores = []
            for truth, low in zip(truths, lows, strict=True):
                size = (truth.shape[1], truth.shape[0])
                scores.append(psnr(np.clip(enlarge(low, size), 0, 1), truth))
            print(f"| {name} | {np.mean(scores):.2f} |", flush=True)


if __name__ == "__main__":
    main()
