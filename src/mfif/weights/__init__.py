"""Pretrained weights trained here by mfif's own commands, described in MANIFEST.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import MfifError

__all__ = ["WEIGHTS_DIR", "manifest_entry", "weights_file"]

WEIGHTS_DIR = Path(__file__).resolve().parent


def manifest_entry(name: str) -> dict | None:
    """The MANIFEST.json entry of ``name`` (file, sha256, command, data, scores), or None."""
    manifest = WEIGHTS_DIR / "MANIFEST.json"
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text()).get(name)


def weights_file(name: str) -> tuple[Path, str]:
    """Path and sha256 of the shipped weights ``name``, checked against the manifest.

    Raises
    ------
    MfifError
        No trained weights are shipped under that name, or the file does not match.
    """
    entry = manifest_entry(name)
    if entry is None:
        raise MfifError(
            f"No trained weights for {name!r} are shipped yet; train them with "
            f"'mfif train {name.split('-')[0]}' or pass weights=PATH."
        )
    path = WEIGHTS_DIR / entry["file"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    if digest != entry["sha256"]:
        raise MfifError(f"The weights file {path.name} is missing or does not match MANIFEST.json.")
    return path, digest
