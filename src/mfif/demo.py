"""`mfif demo`: a 3-image focus stack with known ground truth, rendered from a shipped image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import psnr
from .outputs import OutputSet
from .pipeline import Pipeline
from .stack import Stack

__all__ = ["demo_stack", "run_demo"]

PLANES = 3
MAX_BLUR_RADIUS = 9.0  # pixels, between the nearest and the farthest point
SOURCE_NAMES = tuple(f"source-{chr(ord('A') + k)}" for k in range(PLANES))


def demo_stack() -> tuple[Stack, np.ndarray]:
    """The demo stack and its ground truth.

    The sharp image and its disparity map are the Middlebury 2014 'motorcycle' pair that ships
    inside scikit-image (no download). Three sources are rendered with a thin-lens disk blur
    focused at three disparities spread over the scene.

    Returns
    -------
    stack : Stack
        Three RGB sources, 500x741.
    ground_truth : ndarray of shape (500, 741, 3), float32 in [0, 1]
    """
    from skimage import data

    from .data.synthetic import fill_unknown_disparity, focus_planes, render_depth_stack

    left, _, disparity = data.stereo_motorcycle()
    sharp = left.astype(np.float32) / 255.0
    disparity = fill_unknown_disparity(disparity)
    planes = focus_planes(disparity, PLANES)
    spread = float(disparity.max() - disparity.min())
    sources = render_depth_stack(
        sharp, disparity, planes, blur_per_disparity=MAX_BLUR_RADIUS / spread
    )
    return Stack(images=sources, bit_depth=8, names=SOURCE_NAMES), sharp


def run_demo(out: Path, *, method: str) -> None:
    """Render the demo stack, fuse it with ``method``, write all images to ``out`` and print
    the PSNR of each source and of the result against the ground truth."""
    pipeline = Pipeline(method)  # as `mfif fuse`; an unknown method fails before any work
    with OutputSet() as outputs:  # all the demo's images, or none
        outputs.folder(out)
        files = [outputs.file(out / f"{name}.png") for name in SOURCE_NAMES]
        truth_file = outputs.file(out / "ground-truth.png")
        fused_file = outputs.file(out / f"fused-{method}.png")
        stack, ground_truth = demo_stack()
        with pipeline.run(stack) as result:
            fusion = result.fusion
        for path, source in zip(files, stack.images, strict=True):
            outputs.write_image(path, source)
        outputs.write_image(truth_file, ground_truth)
        outputs.write_image(fused_file, fusion.image)
    print(
        f"Demo stack: {stack.count} sources of {stack.size[1]}x{stack.size[0]}, written to {out}/"
    )
    print("PSNR against the ground truth (8-bit luminance):")
    for name, source in zip(stack.names, stack.images, strict=True):
        print(f"  {name:<26}{psnr(source, ground_truth):6.2f} dB")
    print(f"  {'fused (' + method + ')':<26}{psnr(fusion.image, ground_truth):6.2f} dB")
