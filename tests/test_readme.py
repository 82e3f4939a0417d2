"""The README's example method, run as written: registered, it fuses from memory and disk."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import mfif
from mfif.methods import registry
from mfif.metrics import psnr
from mfif.pipeline import Pipeline

from conftest import complementary_stack

README = Path(__file__).resolve().parents[1] / "README.md"


def example_code() -> str:
    section = README.read_text().split("## Add a method", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_method_works_everywhere(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))  # undone after
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(example_code(), "README.md", "exec"), namespace)  # noqa: S102
    assert "local-variance" in mfif.list_methods()
    sources, truth, _ = complementary_stack(3, color=True, width=120)
    fused = mfif.fuse(list(sources), method="local-variance", window=9)
    assert psnr(fused.image, truth) > max(psnr(source, truth) for source in sources) + 1.0
    paths = [mfif.save_image(tmp_path / f"{k}.png", source) for k, source in enumerate(sources)]
    with Pipeline("local-variance", storage="disk").run(paths, maps=True) as from_disk:
        in_memory = Pipeline("local-variance", storage="memory").run(paths)
        np.testing.assert_allclose(from_disk.fusion.image, in_memory.fusion.image, atol=1e-6)
        np.testing.assert_array_equal(from_disk.depth, in_memory.depth)
