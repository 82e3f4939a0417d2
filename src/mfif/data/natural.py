"""The sharp natural images of ``datasets/natural`` as supervised training material, split into
training, validation and test by *source image, sequence or scene*, never by crop.

Sets (``datasets/natural/README``): PASCAL-S with graded salient-object masks, DAVIS 2016
frames with object masks, BSDS500 without masks, Middlebury 2006 with disparity maps. Photos
whose own background is defocused (``soft_fraction`` > 0.2 in ``index.csv``) are left out:
they are not all-in-focus ground truths.
"""

from __future__ import annotations

import csv
import os
import re
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..errors import StackError

__all__ = ["NaturalItem", "natural_items", "split_items", "SPLITS", "MAX_SOFT_FRACTION"]

SPLITS = ("train", "validation", "test")
MAX_SOFT_FRACTION = 0.2  # above it the photo has a defocused background (datasets README)
# Shares of the groups (sequences, scenes, images) per split where a set has no split of its own.
_SHARES = (0.6, 0.1, 0.3)


@dataclass(frozen=True)
class NaturalItem:
    """One sharp image and what gives its focus regions.

    Attributes
    ----------
    source : {"pascal_s", "davis2016", "bsds500", "middlebury2006"}
    id : str
        The image's id within its set.
    image : Path
    companion : Path or None
        Mask (pascal_s, davis2016) or disparity map (middlebury2006); None for bsds500.
    group : str
        What the split keeps together: the DAVIS sequence, the Middlebury scene (both views),
        else the image itself.
    split : {"train", "validation", "test"}
    """

    source: str
    id: str
    image: Path
    companion: Path | None
    group: str
    split: str

    @property
    def kind(self) -> str:
        """ "depth" (a disparity map), "mask" (an object mask) or "random" (no companion)."""
        if self.source == "middlebury2006":
            return "depth"
        return "mask" if self.companion is not None else "random"


def _hash_split(groups: set[str], salt: str) -> dict[str, str]:
    """A fixed split of ``groups`` by a hash of their names: 60 % / 10 % / 30 %, at least one
    group in validation and test when there are three or more."""
    ordered = sorted(groups, key=lambda g: zlib.crc32(f"{salt}/{g}".encode()))
    count = len(ordered)
    validation = max(1, round(_SHARES[1] * count)) if count >= 3 else 0
    test = max(1, round(_SHARES[2] * count)) if count >= 3 else 0
    train = count - validation - test
    labels = ["train"] * train + ["validation"] * validation + ["test"] * test
    return dict(zip(ordered, labels, strict=True))


def _indexed_items(root: Path) -> list[NaturalItem]:
    """PASCAL-S and BSDS500 from ``index.csv`` (sharp photos only)."""
    items = []
    with open(root / "index.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["source"] in ("pascal_s", "bsds500")]
    rows = [r for r in rows if float(r["soft_fraction"] or 0) <= MAX_SOFT_FRACTION]
    pascal = _hash_split({r["id"] for r in rows if r["source"] == "pascal_s"}, "pascal_s")
    for row in rows:
        if row["source"] == "pascal_s":
            split = pascal[row["id"]]
        else:  # BSDS500 has a published split
            split = {"train": "train", "val": "validation", "test": "test"}[row["split"]]
        items.append(
            NaturalItem(
                source=row["source"],
                id=row["id"],
                image=root / row["image"],
                companion=root / row["mask"] if row["mask"] else None,
                group=row["id"],
                split=split,
            )
        )
    return items


def _paired_items(root: Path, source: str, companions: str, group_of) -> list[NaturalItem]:
    """Images under ``source/images`` with a companion of the same stem in ``companions``."""
    folder = root / source / "images"
    if not folder.is_dir():
        return []
    by_stem = {p.stem: p for p in (root / source / companions).glob("*.png")}
    images = sorted(p for p in folder.iterdir() if p.stem in by_stem)
    split = _hash_split({group_of(p.stem) for p in images}, source)
    return [
        NaturalItem(source, p.stem, p, by_stem[p.stem], group_of(p.stem), split[group_of(p.stem)])
        for p in images
    ]


def natural_items(root: str | os.PathLike) -> list[NaturalItem]:
    """Every usable sharp image under ``root`` (a ``datasets/natural`` folder), with its split.

    Raises
    ------
    StackError
        ``root`` holds none of the four sets.
    """
    root = Path(root)
    items: list[NaturalItem] = []
    if (root / "index.csv").is_file():
        items += _indexed_items(root)
    items += _paired_items(root, "davis2016", "masks", lambda stem: stem.rsplit("_", 1)[0])
    items += _paired_items(
        root, "middlebury2006", "depth", lambda stem: re.sub(r"_v\d+$", "", stem)
    )
    if not items:
        raise StackError(
            f"No training images under {root}: expected a datasets/natural folder (index.csv, "
            "davis2016/, middlebury2006/)."
        )
    return items


def split_items(items: list[NaturalItem]) -> dict[str, dict[str, list[str]]]:
    """The split as a record: split -> source -> sorted groups (for manifests and reports)."""
    record: dict[str, dict[str, set[str]]] = {s: defaultdict(set) for s in SPLITS}
    for item in items:
        record[item.split][item.source].add(item.group)
    return {s: {k: sorted(v) for k, v in sorted(record[s].items())} for s in SPLITS}
