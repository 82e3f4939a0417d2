"""Finding benchmark scenes on disk: ``ROOT/<scene>/{A,B[,...][,GT]}`` or one level deeper,
``ROOT/<set>/<scene>/...``."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ImageReadError
from ..io import IMAGE_SUFFIXES

__all__ = ["Scene", "find_scenes"]


@dataclass(frozen=True)
class Scene:
    """One stack to fuse.

    Attributes
    ----------
    dataset : str
        The set it belongs to (the folder above the scene folders).
    name : str
        The scene folder's name.
    sources : tuple of Path
        Source images in name order (A, B, C, ...).
    ground_truth : Path or None
        ``GT.*`` if present.
    misalignment : dict or None
        For scenes that ``mfif synth`` moved (its ``synth.json`` beside the scene folders): the
        known motions and ``crop``, the region of the reference frame the ground truth covers.
    labels : Path or None
        ``LABELS.*`` if present (``mfif synth layered``): 2 object, 1 halo band, 0 background,
        in the ground truth's coordinates.
    """

    dataset: str
    name: str
    sources: tuple[Path, ...]
    ground_truth: Path | None = None
    misalignment: dict | None = field(default=None, compare=False)
    labels: Path | None = None

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.name}"


def _images(folder: Path) -> dict[str, Path]:
    return {
        p.stem: p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    }


def _is_scene(images: dict[str, Path]) -> bool:
    return "A" in images or "GT" in images


def _scene(dataset: str, folder: Path, images: dict[str, Path]) -> Scene | str:
    sources = tuple(images[stem] for stem in sorted(images) if len(stem) == 1 and stem.isupper())
    if len(sources) < 2:
        return f"{dataset}/{folder.name}: needs sources A and B, found {len(sources)} source(s)"
    letters = "".join(p.stem for p in sources)
    if letters != "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: len(sources)]:
        return (
            f"{dataset}/{folder.name}: sources must be A, B, C, ... without gaps; found {letters}"
        )
    return Scene(
        dataset, folder.name, sources, images.get("GT"), _misalignment_of(folder),
        images.get("LABELS"),
    )  # fmt: skip


def _misalignment_of(folder: Path) -> dict | None:
    """The motions ``mfif synth`` recorded for this scene, if it moved the frames."""
    manifest = folder.parent / "synth.json"
    if not manifest.is_file():
        return None
    try:
        scenes = json.loads(manifest.read_text()).get("scenes", {})
    except (OSError, ValueError, AttributeError):
        return None
    entry = scenes.get(folder.name) if isinstance(scenes, dict) else None
    return entry.get("misalignment") if isinstance(entry, dict) else None


def find_scenes(roots: Sequence[str | os.PathLike]) -> tuple[list[Scene], list[str]]:
    """Scenes under each root, and one sentence per malformed scene folder.

    A root may itself be one set (scene folders inside) or hold sets (set folders holding
    scene folders). A scene folder holds ``A``, ``B``, ... and optionally ``GT`` images.
    """
    scenes: list[Scene] = []
    problems: list[str] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise ImageReadError(f"The data root {root} is not a folder.")
        found_any = False
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            images = _images(child)
            if _is_scene(images):
                candidates = [(root.name, child, images)]
            else:
                candidates = [
                    (child.name, grandchild, _images(grandchild))
                    for grandchild in sorted(p for p in child.iterdir() if p.is_dir())
                ]
                candidates = [c for c in candidates if _is_scene(c[2])]
            for dataset, folder, folder_images in candidates:
                found_any = True
                result = _scene(dataset, folder, folder_images)
                if isinstance(result, str):
                    problems.append(result)
                else:
                    scenes.append(result)
        if not found_any:
            raise ImageReadError(f"No scene folders (holding A, B, ... images) under {root}.")
    return scenes, problems
