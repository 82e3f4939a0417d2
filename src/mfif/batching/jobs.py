"""What a batch works on and reports: jobs, settings, outcomes and the summary."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field

from ..methods.registry import DEFAULT_METHOD

SUMMARY_COLUMNS = ("stack", "frames", "seconds", "peak_memory_mb", "status", "message", "output")


@dataclass(frozen=True)
class StackJob:
    """One stack to fuse: its frames (in order) and its output file."""

    name: str
    inputs: tuple[str, ...]
    output: str


@dataclass(frozen=True)
class BatchSettings:
    """How every stack of a batch is fused: the options of ``mfif fuse``."""

    method: str = DEFAULT_METHOD
    options: tuple[tuple[str, object], ...] = ()
    align: str = "auto"
    reference: int | None = None
    crop: bool = True
    skip_bad_frames: bool = False
    bit_depth: int | None = None
    metadata: bool = True
    upscale: int = 1
    degradation: str = "lanczos2"
    enlargement: str | None = None

    def digest(self) -> str:
        """What in the settings changes an output (the mfif version included)."""
        from .._version import __version__

        described = {**asdict(self), "options": sorted(map(list, self.options)), "v": __version__}
        return json.dumps(described, sort_keys=True, default=repr)


@dataclass(frozen=True)
class StackOutcome:
    """One row of a batch summary.

    ``status`` is "fused", "skipped" (unchanged since an earlier run) or "failed" (``message``
    says why); ``peak_memory_mb`` is the worker process's peak resident memory while it fused
    the stack (0 when skipped).
    """

    stack: str
    frames: int
    seconds: float
    peak_memory_mb: float
    status: str
    message: str
    output: str
    digest: str = field(default="", repr=False)


@dataclass
class BatchSummary:
    """The outcome of every stack of a batch, in the order the stacks were given."""

    rows: list[StackOutcome]

    @property
    def failed(self) -> list[StackOutcome]:
        return [row for row in self.rows if row.status == "failed"]

    def counts(self) -> dict[str, int]:
        counted = {"fused": 0, "skipped": 0, "failed": 0}
        for row in self.rows:
            counted[row.status] += 1
        return counted

    def to_csv(self) -> str:
        """The summary as CSV text (columns `SUMMARY_COLUMNS`)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(SUMMARY_COLUMNS)
        for row in self.rows:
            writer.writerow(
                [row.stack, row.frames, f"{row.seconds:.3f}", f"{row.peak_memory_mb:.0f}",
                 row.status, row.message, row.output]
            )  # fmt: skip
        return buffer.getvalue()
