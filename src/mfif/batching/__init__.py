"""Many stacks, one result each: ``mfif batch`` and `mfif.batch`, on Dask distributed.

Each stack is one task; workers get paths, never arrays, and fuse with `mfif.files.fuse_file`,
the code of ``mfif fuse``, so a batch writes the same bytes. By default a local cluster of
processes (one per core, one thread each, fewer when memory is short); ``scheduler=`` or
``client=`` use an existing cluster, whose workers must see the same paths and have mfif
installed.

A batch is resumable: the output folder keeps a state file (`STATE_NAME`) with, for every
output, a digest of what made it (the inputs' bytes, the method and its options, the alignment
settings, the mfif version) and of the output's own bytes. A stack whose digest is unchanged
and whose output is intact is skipped without starting a cluster; anything else is fused
again. File times play no part.
"""

from .discovery import find_stacks
from .jobs import BatchSettings, BatchSummary, StackJob, StackOutcome
from .resume import STATE_NAME, stack_digest
from .run import batch, default_workers
from .worker import fuse_job

__all__ = [
    "STATE_NAME",
    "BatchSettings",
    "BatchSummary",
    "StackJob",
    "StackOutcome",
    "batch",
    "default_workers",
    "find_stacks",
    "fuse_job",
    "stack_digest",
]
