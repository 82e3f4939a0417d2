"""The client side of a batch: skip what is unchanged, run the rest on a Dask cluster, record
the state as stacks finish, write the summary."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path

from ..errors import OptionError
from .discovery import find_stacks
from .jobs import BatchSettings, BatchSummary, StackJob, StackOutcome
from .resume import load_state, save_state, stack_digest, unchanged
from .worker import fuse_job, pipeline_for

# Peak memory of one worker fusing a 24-megapixel stack (README "Large stacks"), with margin.
_MEMORY_PER_WORKER = 3 * 2**30


def default_workers() -> int:
    """Worker processes of a local cluster: one per core, fewer when memory would not hold
    one large stack per worker."""
    from ..concurrency import usable_cores
    from ..limits import available_memory

    cores = usable_cores()
    memory = available_memory()
    by_memory = max(1, memory // _MEMORY_PER_WORKER) if memory else cores
    return int(max(1, min(cores, by_memory)))


def batch(
    stacks: str | os.PathLike | Iterable[StackJob],
    out: str | os.PathLike,
    *,
    settings: BatchSettings | None = None,
    suffix: str | None = None,
    exclude: Sequence[str] = (),
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    summary: str | os.PathLike | None = None,
    progress: bool = False,
    **fuse_options,
) -> BatchSummary:
    """Fuse many stacks, one result each, on a Dask cluster; resumable.

    Parameters
    ----------
    stacks : path-like or iterable of StackJob
        A folder of stack folders or a CSV file (see `find_stacks`), or the jobs themselves.
    out : path-like
        Output folder (created if needed); it also keeps the batch state (`STATE_NAME`).
    settings : BatchSettings, optional
        How to fuse; or give its fields as keywords (``method="gff"``, ``options={...}``,
        ``align="none"``, ...).
    suffix, exclude
        As for `find_stacks`, when ``stacks`` is a path.
    client : dask.distributed.Client, optional
        Run on this client's cluster (left open).
    scheduler : str, optional
        Address of a running Dask scheduler, e.g. "tcp://10.0.0.5:8786".
    workers : int, optional
        Worker processes of the local cluster (default `default_workers`).
    threads_per_worker : int
        Threads of each local worker (default 1: each stack gets a process's memory).
    summary : path-like, optional
        Write the summary CSV here (default ``out/summary.csv``).
    progress : bool
        A progress bar with ETA on a terminal.

    Returns
    -------
    BatchSummary
        One row per stack, in order; ``failed`` lists the stacks that failed.

    Raises
    ------
    MfifError
        Bad settings, no stacks, or an output folder that cannot be written. A stack that
        cannot be fused does not raise: its row says why.
    """
    settings = _settings(settings, fuse_options)
    pipeline_for(settings)  # a bad method or option fails here, before any cluster starts
    out = _output_folder(out)
    jobs = (
        find_stacks(stacks, out, suffix=suffix, exclude=exclude)
        if isinstance(stacks, (str, os.PathLike))
        else list(stacks)
    )
    state = load_state(out)
    with ThreadPoolExecutor(max_workers=4) as pool:  # hashing reads files: threads overlap it
        digests = list(pool.map(lambda job: stack_digest(job, settings), jobs))
    outcomes: dict[int, StackOutcome] = {}
    todo = []
    for index, (job, digest) in enumerate(zip(jobs, digests, strict=True)):
        if unchanged(job, digest, state):
            outcomes[index] = StackOutcome(
                job.name, len(job.inputs), 0.0, 0.0, "skipped", "unchanged since it was fused",
                job.output, digest,
            )  # fmt: skip
        else:
            todo.append(index)
            with contextlib.suppress(OSError):  # CSV rows may nest; fusing reports failures
                Path(job.output).parent.mkdir(parents=True, exist_ok=True)
    try:
        if todo:
            _run_on_cluster(
                [(index, jobs[index], digests[index]) for index in todo], settings, out, state,
                outcomes, client=client, scheduler=scheduler, workers=workers,
                threads_per_worker=threads_per_worker, progress=progress,
            )  # fmt: skip
    finally:
        rows = [
            outcomes.get(index)
            or StackOutcome(
                job.name,
                len(job.inputs),
                0.0,
                0.0,
                "failed",
                "not run: the batch stopped first",
                job.output,
            )
            for index, job in enumerate(jobs)
        ]
        result = BatchSummary(rows)
        _write_summary(Path(summary) if summary else out / "summary.csv", result)
    return result


def _settings(settings: BatchSettings | None, fuse_options: dict) -> BatchSettings:
    if settings is not None and fuse_options:
        raise OptionError("Give either settings= or the fusion options as keywords, not both.")
    if settings is not None:
        return settings
    known = {item.name for item in fields(BatchSettings)}
    unknown = sorted(set(fuse_options) - known)
    if unknown:
        raise OptionError(
            f"mfif.batch has no option {unknown[0]!r}; method options go in options={{...}}."
        )
    options = fuse_options.pop("options", None) or {}
    return BatchSettings(options=tuple(sorted(dict(options).items())), **fuse_options)


def _output_folder(out: str | os.PathLike) -> Path:
    from ..errors import OutputError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"The output folder {out} is a file; give a folder for the results.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"Cannot create the output folder {out}: {error.strerror}.") from None
    if not os.access(out, os.W_OK):
        raise OutputError(f"The output folder {out} is not writable.")
    return out


def _write_summary(path: Path, summary: BatchSummary) -> None:
    from ..outputs import OutputSet

    with OutputSet() as outputs:
        outputs.write_text(outputs.file(path, image=False), summary.to_csv())


def _client(client, scheduler: str | None, workers: int | None, threads_per_worker: int):
    """(client, things to close): the given client, one of a running scheduler, or a new
    local cluster of processes."""
    import contextlib

    from distributed import Client, LocalCluster

    if client is not None:
        return client, contextlib.nullcontext()
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise OptionError(
                f"Cannot reach the Dask scheduler at {scheduler} ({error})."
            ) from None
        return client, client
    cluster = LocalCluster(
        n_workers=workers or default_workers(),
        threads_per_worker=threads_per_worker,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    stack = contextlib.ExitStack()
    stack.enter_context(cluster)
    stack.enter_context(client)
    return client, stack


def _run_on_cluster(
    work, settings, out, state, outcomes, *, client, scheduler, workers, threads_per_worker,
    progress,
) -> None:  # fmt: skip
    from distributed import as_completed

    from ..progress import progress_bar

    client, closing = _client(client, scheduler, workers, threads_per_worker)
    with closing:
        futures = {}
        for index, job, digest in work:
            future = client.submit(fuse_job, job, settings, digest, pure=False,
                                   key=f"mfif-fuse-{index}-{digest[:16]}")  # fmt: skip
            futures[future] = (index, job)
        bar = progress_bar(
            total=len(work), label="batch", unit="stack", enabled=progress, leave=True
        )
        try:
            for future in as_completed(futures):
                index, job = futures[future]
                try:
                    outcome, output_digest = future.result()
                except Exception as error:  # the worker died or the cluster went away
                    outcome, output_digest = _lost(job, error), ""
                outcomes[index] = outcome
                if outcome.status == "fused":
                    state[os.path.abspath(job.output)] = {
                        "digest": outcome.digest, "output_sha256": output_digest,
                    }  # fmt: skip
                    save_state(out, state)
                bar.update(1)
        except BaseException:
            client.cancel(list(futures))
            raise
        finally:
            bar.close()


def _lost(job: StackJob, error: BaseException) -> StackOutcome:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    message = f"The worker fusing it was lost ({type(error).__name__}: {reason[:120]})."
    return StackOutcome(job.name, len(job.inputs), 0.0, 0.0, "failed", message, job.output)
