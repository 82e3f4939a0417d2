"""Resuming by content: digests of what made each output, kept in the output folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from ..outputs import replace_atomically
from .jobs import BatchSettings, StackJob

_logger = logging.getLogger(__name__)

STATE_NAME = ".mfif-batch.json"


def file_digest(path: str | os.PathLike) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return "unreadable"  # fusing it will say why


def stack_digest(job: StackJob, settings: BatchSettings) -> str:
    """Digest of everything that makes a stack's output: settings, frame names and bytes."""
    digest = hashlib.sha256(settings.digest().encode())
    for path in job.inputs:
        digest.update(f"\n{Path(path).name}:{file_digest(path)}".encode())
    return digest.hexdigest()


def load_state(out: Path) -> dict[str, dict[str, str]]:
    try:
        state = json.loads((out / STATE_NAME).read_text())
        return dict(state["outputs"])
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError):
        _logger.warning("The batch state %s is unreadable: every stack is fused again.",
                        out / STATE_NAME)  # fmt: skip
        return {}


def save_state(out: Path, state: dict[str, dict[str, str]]) -> None:
    """Atomically: a crash leaves the previous state, never half of one."""
    text = json.dumps({"version": 1, "outputs": state}, indent=0)
    replace_atomically(out / STATE_NAME, lambda temporary: temporary.write_text(text))


def unchanged(job: StackJob, digest: str, state: dict[str, dict[str, str]]) -> bool:
    entry = state.get(os.path.abspath(job.output))
    return (
        entry is not None
        and entry.get("digest") == digest
        and Path(job.output).is_file()
        and file_digest(job.output) == entry.get("output_sha256")
    )
