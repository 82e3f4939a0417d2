"""Fine structure that most frames blur beyond its own width (a barcode at the back of a
stack, focused in the last frame only): does a method fill the insides of the bars from
blurred frames, in patches? The ground-truth form of the mottling seen on ``petteri__pcb``
(README, Methods, "A visible failure, repaired").

Each scene (``--scenes``, random): a natural image from ``natural/davis2016`` on the left at
the front, sharp in the first frame, and bars of random widths (4-40 px, dark ink on light
paper, with specks) on the right at the back, sharp in the last; 5 frames focused evenly from
front to back, each layer blurred by a disk of radius 40 px times its distance from the focus
(the frame before the last blurs the bars by 10 px), the front layer's edge blurred with it;
camera noise (σ about 4 levels at mid-grey) and JPEG quality 92. Fused without alignment:
the stack does not move, and `auto` fails on it (frames this different do not register: an
open problem of issue 29, "auto" under strong defocus). Reported per method: PSNR (8-bit
luminance) over the image and over the bars (the back layer, 16 px from its edge), and the
share of mottled 32 x 32 blocks there (as `real_stacks.mottled_share` counts them, against
the noisy frames: detail no frame has; the noise here hides most patches from it, the PSNR
over the bars does not). enfuse and focus-stack run on the same files when installed; the
last frame alone is the bound a method should reach on the bars.

    .venv/bin/python benchmarks/mottling.py [--scenes 8] [--methods guided-decision ...]

A method may carry options, as in `benchmarks/halo.py`: ``guided-decision:sigma=1,radius=4``.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import cv2
import numpy as np

import mfif
from mfif.data.synthetic import disk_kernel
from mfif.metrics import psnr, region_psnr
from real_stacks import MOTTLED, block_detail

from _common import fused_without_alignment, generated_scenes_arguments

SIZE = (512, 768)  # height, width
FRAMES = 5
MAX_RADIUS = 40.0


def disk_blur(image: np.ndarray, radius: float) -> np.ndarray:
    """``image`` (H, W[, C]) blurred by `mfif.data.synthetic.disk_kernel` (reflected borders)."""
    blurred = cv2.filter2D(image, -1, disk_kernel(radius), borderType=cv2.BORDER_REFLECT)
    return blurred.reshape(image.shape)


def bars(rng: np.random.Generator) -> np.ndarray:
    """Dark bars of random widths on light paper, with specks, (H, W, 3) float32."""
    height, width = SIZE
    profile = np.empty(width, np.float32)
    x, dark = 0, False
    while x < width:
        step = int(rng.integers(4, 41))
        profile[x : x + step] = 0.08 if dark else 0.85
        x, dark = x + step, not dark
    image = np.repeat(profile[None, :, None], height, 0).repeat(3, 2)
    image *= np.array([1.0, 0.97, 0.9], np.float32)  # warm paper
    specks = rng.random((height, width)) < 0.002
    image[specks] = 1.0 - image[specks]
    return cv2.GaussianBlur(image, (0, 0), 0.6)


def scene(
    rng: np.random.Generator, natural: Path
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(frames, truth, the bars' region away from their edge)."""
    height, width = SIZE
    front = cv2.cvtColor(cv2.imread(str(natural)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    front = cv2.resize(front, (width, height), interpolation=cv2.INTER_AREA)
    back = bars(rng)
    edge = int(rng.integers(width // 3, width // 2))
    mask = np.zeros((height, width, 1), np.float32)
    mask[:, :edge] = 1.0
    truth = mask * front + (1 - mask) * back
    frames = []
    for k in range(FRAMES):
        focus = k / (FRAMES - 1)
        near, far = MAX_RADIUS * focus, MAX_RADIUS * (1 - focus)
        soft = disk_blur(mask, near)
        frame = soft * disk_blur(front, near) + (1 - soft) * disk_blur(back, far)
        sigma = np.sqrt((4.0 / 255) ** 2 * 2 * frame + (1.0 / 255) ** 2)
        frame = np.clip(frame + rng.standard_normal(frame.shape).astype(np.float32) * sigma, 0, 1)
        frames.append(frame)
    region = np.zeros((height, width), bool)
    region[:, edge + 16 :] = True
    return frames, truth, region


def main() -> None:
    args, naturals = generated_scenes_arguments(__doc__.splitlines()[0])
    rng = np.random.default_rng(0)
    scores: dict[str, list[tuple[float, float, float]]] = {}
    for index in range(args.scenes):
        frames, truth, region = scene(rng, naturals[index * 3 % len(naturals)])
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            paths = []
            for k, frame in enumerate(frames):
                path = folder / f"{k}.jpg"
                encoded = np.ascontiguousarray((frame[..., ::-1] * 255 + 0.5).astype(np.uint8))
                cv2.imwrite(str(path), encoded, [cv2.IMWRITE_JPEG_QUALITY, 92])
                paths.append(path)
            decoded = np.stack([mfif.read_image(p)[0] for p in paths])
            best = np.stack([block_detail(f) for f in decoded]).max(axis=0)
            results = fused_without_alignment(args.methods, paths, folder)
            results["the last frame (sharp on the bars)"] = decoded[-1]
        blocks = region[16::32, 16::32][: best.shape[0], : best.shape[1]]
        for name, image in results.items():
            detail = block_detail(image)
            mottled = (detail > 4.0) & (detail > MOTTLED * best)
            share = float(mottled[blocks].mean())
            row = (psnr(image, truth), region_psnr(image, truth, region), share)
            scores.setdefault(name, []).append(row)
    print(f"{args.scenes} scenes, {FRAMES} frames of {SIZE[1]}x{SIZE[0]}: mean over scenes")
    print("| method | PSNR all | PSNR bars | mottled blocks (bars) |")
    print("|---|---|---|---|")
    for name, rows in scores.items():
        all_, bars_, share = (statistics.mean(column) for column in zip(*rows, strict=True))
        print(f"| {name} | {all_:.2f} | {bars_:.2f} | {share:.1%} |")


if __name__ == "__main__":
    main()
