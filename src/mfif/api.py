"""`mfif.fuse` and `mfif.fuse_to_file`: the one-call Python entry points (the shared
`mfif.pipeline.Pipeline`)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from .fusion import Fusion
from .methods import DEFAULT_METHOD
from .pipeline import ImagesOrPaths, Pipeline, as_stack

__all__ = ["fuse", "fuse_to_file", "as_stack"]


def fuse(
    images_or_paths: ImagesOrPaths,
    method: str = DEFAULT_METHOD,
    *,
    align: str = "auto",
    reference: int | None = None,
    crop: bool = True,
    upscale: int = 1,
    degradation: str = "lanczos2",
    enlargement: str | None = None,
    **options: object,
) -> Fusion:
    """Fuse a focus stack into one all-in-focus image.

    Parameters
    ----------
    images_or_paths : Stack, sequence of ndarray, or path(s)
        N >= 2 images of one scene and size: arrays of shape (H, W) or (H, W, 3) (uint8, uint16,
        or float in [0, 1]), or image files, a folder, a glob pattern, or one multi-page TIFF.
    method : str
        A registered method name (see `mfif.list_methods`).
    align : {"auto", "none", "translation", "similarity", "affine", "homography"}, keyword-only
        Alignment of the frames before fusing (`mfif.align`). "auto" (default) registers with
        the similarity model and leaves already registered stacks untouched.
    reference : int, optional, keyword-only
        Reference frame of the alignment; default the middle one.
    crop : bool, keyword-only
        After alignment, crop to the region every frame covers (default).
    upscale : int, keyword-only
        Return the fusion this many times larger than the frames (default 1): enlarged by
        back-projection onto ``degradation`` (`mfif.upscaling`; dfp super-resolves by itself).
    degradation : str, keyword-only
        With ``upscale``: how the frames were made from the scene at that size, "lanczos2"
        (default), "bicubic", "box" or "gaussian:SIGMA" (`mfif.resample.DEGRADATIONS`).
    enlargement : str, optional, keyword-only
        With ``upscale``: "back-projection", at ×2 "learned" (back-projection from the learned
        start), "lanczos" or "bicubic" (`mfif.upscaling`); default
        `mfif.upscaling.default_enlargement`.
    **options
        Options of the method's constructor.

    Returns
    -------
    Fusion
        ``image`` (H, W, C) float32 in [0, 1]; ``weights`` (N, H, W) summing to 1 where the
        method has them, else None; ``depth`` (H, W) index of the winning source. H and W are
        those of the cropped region when alignment cropped; with ``upscale=s`` (or a
        super-resolving method, ``method="dfp", scale=s``) ``image``, ``weights`` and
        ``depth`` are s times larger.

    Examples
    --------
    >>> import numpy as np, mfif
    >>> sharp = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> result = mfif.fuse([sharp, sharp], method="gff")
    >>> bool(np.allclose(result.image[..., 0], sharp, atol=1e-5))
    True
    """
    pipeline = Pipeline(
        method, options, align=align, reference=reference, crop=crop, upscale=upscale,
        degradation=degradation, enlargement=enlargement,
    )  # fmt: skip
    return pipeline.run(images_or_paths).fusion


def fuse_to_file(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    output: str | os.PathLike,
    method: str = DEFAULT_METHOD,
    *,
    align: str = "auto",
    reference: int | None = None,
    crop: bool = True,
    bit_depth: int | None = None,
    metadata: bool = True,
    upscale: int = 1,
    degradation: str = "lanczos2",
    enlargement: str | None = None,
    **options: object,
):
    """Fuse image files into one image file, as ``mfif fuse INPUTS -o OUTPUT`` does.

    Unlike `fuse`, memory does not grow with the number of frames: a large stack is fused from
    disk when the method can (every classical method), and the output carries the reference
    frame's metadata.

    Parameters
    ----------
    inputs : path-like or sequence of path-like
        Files, folders, glob patterns or one multi-page TIFF.
    output : path-like
        The fused image (.png, .jpg, .tif, ...), written atomically; never one of the inputs.
    method, align, reference, crop, upscale, degradation, enlargement, **options
        As for `fuse`.
    bit_depth : {8, 16, 32}, optional
        Of the output; default that of the inputs as far as the format holds it.
    metadata : bool
        Carry the reference frame's EXIF, IPTC, XMP and ICC profile (default).

    Returns
    -------
    mfif.files.FileFusion
        ``output``, ``fusion`` (its ``weights`` are None when the stack was fused from disk),
        ``names``, ``alignment``, ``streamed``, ``seconds``.
    """
    from .files import fuse_file

    pipeline = Pipeline(
        method, options, align=align, reference=reference, crop=crop, upscale=upscale,
        degradation=degradation, enlargement=enlargement,
    )  # fmt: skip
    return fuse_file(pipeline, inputs, output, bit_depth=bit_depth, metadata=metadata)
