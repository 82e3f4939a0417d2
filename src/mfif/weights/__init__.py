"""Pretrained weights trained here by mfif's own commands.

Each shipped weights file is described by a typed `PretrainedConfig` (after timm's
``PretrainedCfg``) named ``architecture.tag`` (``udpnet.mfif``, ``ufa_fuse.cpu``). The configs
live in ``MANIFEST.json`` beside the files, which ``mfif train NETWORK --export FILE --tag TAG``
writes; nobody edits it by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import MfifError

__all__ = [
    "WEIGHTS_DIR",
    "MANIFEST_NAME",
    "Score",
    "PretrainedConfig",
    "pretrained_config",
    "pretrained_names",
    "weights_file",
    "manifest_with",
]

WEIGHTS_DIR = Path(__file__).resolve().parent
MANIFEST_NAME = "MANIFEST.json"


@dataclass(frozen=True)
class Score:
    """The weights' scores on one set, measured by the export command with the shipped
    inference.

    Attributes
    ----------
    set : str
        The folder of scenes (as given on the command line).
    description : str
        What the set is (how it was made, and that training never saw it).
    scenes : int
        Scenes with a ground truth that were scored.
    metrics : dict
        Metric name -> mean over the scenes (PSNR in dB on 8-bit RGB, SSIM, ...).
    """

    set: str
    description: str
    scenes: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class PretrainedConfig:
    """Everything known about one shipped weights file.

    Attributes
    ----------
    name : str
        ``architecture.tag``.
    architecture : str
        Import path of the network class.
    file, sha256 : str
        The weights file (beside the manifest) and its digest.
    parameters : int
        Parameters used at inference.
    recipe : dict
        The training recipe's settings.
    command : str
        The command that trained and exported the weights.
    data : dict
        What training saw: the data folder, the split, the sampler.
    validation : dict
        ``metric``, ``set`` and ``curve`` ([step, score] pairs) of the run.
    scores : list of Score
        Per set, measured at export.
    licence : str
    trained_on : str
        Device, steps and date.
    checkpoint : str or None
        The training checkpoint (with optimiser state) the weights were exported from. It is
        committed, in ``training-checkpoints/``, only while its run must go on in a later
        session.
    notes : str
        Anything else a user should know (variants, caveats).
    """

    name: str
    architecture: str
    file: str
    sha256: str
    parameters: int
    recipe: dict
    command: str
    data: dict
    validation: dict
    scores: list[Score] = field(default_factory=list)
    licence: str = ""
    trained_on: str = ""
    checkpoint: str | None = None
    notes: str = ""

    @property
    def tag(self) -> str:
        return self.name.partition(".")[2]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, entry: dict) -> PretrainedConfig:
        scores = [Score(**score) for score in entry.get("scores", [])]
        return cls(**{**entry, "scores": scores})


def _read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST_NAME
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def pretrained_config(
    name: str, folder: str | os.PathLike = WEIGHTS_DIR
) -> PretrainedConfig | None:
    """The config of the weights ``name`` (``architecture.tag``), or None."""
    entry = _read_manifest(Path(folder)).get(name)
    return PretrainedConfig.from_json(entry) if entry is not None else None


def pretrained_names(architecture: str = "") -> list[str]:
    """The shipped weights' names (``architecture.tag``), of one architecture if given."""
    prefix = f"{architecture}." if architecture else ""
    return sorted(name for name in _read_manifest(WEIGHTS_DIR) if name.startswith(prefix))


def weights_file(name: str) -> tuple[Path, str]:
    """Path and sha256 of the shipped weights ``name``, checked against the manifest.

    Raises
    ------
    MfifError
        No trained weights are shipped under that name, or the file does not match.
    """
    config = pretrained_config(name)
    if config is None:
        architecture = name.partition(".")[0].replace("_", "-")
        raise MfifError(
            f"No trained weights {name!r} are shipped yet; train them with 'mfif train "
            f"{architecture}' or pass weights=PATH."
        )
    path = WEIGHTS_DIR / config.file
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    if digest != config.sha256:
        raise MfifError(
            f"The weights file {path.name} is missing or does not match {MANIFEST_NAME}."
        )
    return path, digest


def manifest_with(folder: str | os.PathLike, config: PretrainedConfig) -> bytes:
    """The bytes of ``folder``'s manifest with ``config`` added or replaced (keys sorted)."""
    entries = _read_manifest(Path(folder))
    entries[config.name] = config.to_json()
    text = json.dumps(dict(sorted(entries.items())), indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")
