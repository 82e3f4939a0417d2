"""The pipelines of the super-resolution benchmark (``mfif bench --scale S``): a method that
super-resolves by itself at ×S, every other one followed by each enlargement of
`mfif.upscaling` ("<method>+bicubic", "<method>+lanczos", "<method>+back-projection" and at ×2
"<method>+learned")."""

from __future__ import annotations

from ..upscaling import UpscaledFuser, interpolations_for

__all__ = ["benchmark_pipelines"]


def benchmark_pipelines(
    methods: list[str], align: str, scale: int, degradation: str = "lanczos2"
) -> dict:
    """One pipeline per benchmarked method; with ``scale`` > 1, a super-resolving method runs
    with ``scale`` and ``degradation`` and every other one followed by bicubic,
    by Lanczos, by Lanczos back-projected onto ``degradation`` ×scale and at ×2 by the same
    from the learned start."""
    from ..methods import create, method_class
    from ..pipeline import Pipeline

    pipelines = {}
    for name in methods:
        if scale == 1 or method_class(name).super_resolves:
            pipelines[name] = Pipeline(name, align=align, upscale=scale, degradation=degradation)
            continue
        fuser = create(name)
        for interpolation in interpolations_for(scale):
            upsampled = UpscaledFuser(fuser, scale, interpolation, degradation)
            pipelines[upsampled.name] = Pipeline(upsampled, align=align)
    return pipelines
