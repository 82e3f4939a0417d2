"""What runs on a worker: one stack fused as ``mfif fuse`` would, never raising."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import MfifError
from .jobs import BatchSettings, StackJob, StackOutcome
from .resume import file_digest

_PIPELINES: dict[BatchSettings, object] = {}


def pipeline_for(settings: BatchSettings):
    """One pipeline per settings and process: a learned method loads its weights once."""
    from ..pipeline import Pipeline

    if settings not in _PIPELINES:
        _PIPELINES[settings] = Pipeline(
            settings.method,
            dict(settings.options),
            align=settings.align,
            reference=settings.reference,
            crop=settings.crop,
            skip_bad_frames=settings.skip_bad_frames,
            upscale=settings.upscale,
            degradation=settings.degradation,
            enlargement=settings.enlargement,
        )
    return _PIPELINES[settings]


def _reset_peak_memory() -> None:
    try:  # Linux: "5" resets the peak resident set size to the current one
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_memory_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def fuse_job(job: StackJob, settings: BatchSettings, digest: str) -> tuple[StackOutcome, str]:
    """Fuse one stack on a worker, as ``mfif fuse`` would; never raises.

    Returns
    -------
    outcome : StackOutcome
    output_sha256 : str
        Of the written output ("" when it failed).
    """
    from ..files import fuse_file

    _reset_peak_memory()
    started = time.perf_counter()
    frames, status, message = len(job.inputs), "failed", ""
    try:
        result = fuse_file(
            pipeline_for(settings), list(job.inputs), job.output, bit_depth=settings.bit_depth,
            metadata=settings.metadata,
        )  # fmt: skip
        frames, status = len(result.names), "fused"
    except MfifError as error:
        message = str(error)
    except MemoryError:
        message = "The stack does not fit in the memory of the worker."
    except Exception as error:  # a defect must not stop the batch; the summary names it
        message = f"Unexpected {type(error).__name__}: {error}"
    outcome = StackOutcome(
        job.name, frames, time.perf_counter() - started, _peak_memory_mb(), status, message,
        job.output, digest if status == "fused" else "",
    )  # fmt: skip
    return outcome, file_digest(job.output) if status == "fused" else ""
