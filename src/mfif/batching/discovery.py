"""The stacks of a batch: a folder of stack folders, or a CSV file of (stack, output) rows."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import StackError
from .jobs import StackJob


def find_stacks(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    suffix: str | None = None,
    exclude: Sequence[str] = (),
) -> list[StackJob]:
    """The stacks of a folder of stack folders, or of a CSV file of (stack, output) rows.

    Parameters
    ----------
    root : path-like
        A folder whose sub-folders each hold one stack's frames (hidden folders and ``out``
        are passed over), or a ``.csv`` file: a column ``stack`` (a folder, a glob or a
        multi-page TIFF, relative to the CSV's folder) and optionally ``output`` (relative
        to ``out``).
    out : path-like
        The output folder.
    suffix : str, optional
        Output format, e.g. ".tif"; default that of each stack's first frame (TIFF for camera
        RAW, PNG for BMP).
    exclude : sequence of str
        Glob patterns of file names that are not frames (e.g. ``"reference.*"``).

    Raises
    ------
    StackError
        No stack found, or two stacks with one output.
    """
    root, out = Path(root), Path(out)
    if suffix is not None and not suffix.startswith("."):
        suffix = "." + suffix
    if root.is_file() and root.suffix.lower() == ".csv":
        jobs = _jobs_from_csv(root, out, suffix, exclude)
    elif root.is_dir():
        jobs = _jobs_from_folder(root, out, suffix, exclude)
    else:
        raise StackError(f"{root} is neither a folder of stack folders nor a CSV file.")
    if not jobs:
        raise StackError(f"{root} holds no stack: no sub-folder with images in it.")
    seen: dict[str, str] = {}
    for job in jobs:
        key = os.path.normcase(os.path.abspath(job.output))
        if key in seen:
            raise StackError(
                f"The stacks {seen[key]} and {job.name} would both write {job.output}."
            )
        seen[key] = job.name
    return jobs


def _frames_of(folder: Path, exclude: Sequence[str]) -> list[Path]:
    from ..io import INPUT_SUFFIXES, is_excluded

    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and path.suffix.lower() in INPUT_SUFFIXES
        and not is_excluded(path, exclude)
    )


def _output_suffix(first_frame: Path, suffix: str | None) -> str:
    from ..outputs import IMAGE_SUFFIXES

    if suffix:
        return suffix
    own = first_frame.suffix.lower()
    if own == ".bmp":
        return ".png"
    return own if own in IMAGE_SUFFIXES else ".tif"


def _jobs_from_folder(root: Path, out: Path, suffix, exclude) -> list[StackJob]:
    if _frames_of(root, exclude) and not any(p.is_dir() for p in root.iterdir()):
        raise StackError(
            f"{root} holds images, not stack folders: give the folder that contains one folder "
            "per stack (or fuse this one stack with mfif fuse)."
        )
    jobs = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.resolve() == out.resolve():
            continue
        frames = _frames_of(folder, exclude)
        if frames:
            output = out / (folder.name + _output_suffix(frames[0], suffix))
            jobs.append(StackJob(folder.name, tuple(map(str, frames)), str(output)))
    return jobs


def _jobs_from_csv(table: Path, out: Path, suffix, exclude) -> list[StackJob]:
    from ..io import expand_inputs

    try:
        rows = list(csv.DictReader(table.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise StackError(f"{table} is not a readable CSV file ({error}).") from None
    if rows and "stack" not in rows[0]:
        raise StackError(f"{table} needs a column named 'stack' (and optionally 'output').")
    jobs = []
    for number, row in enumerate(rows, start=2):
        text = (row.get("stack") or "").strip()
        if not text:
            raise StackError(f"Row {number} of {table} names no stack.")
        where = table.parent / text
        frames = (
            _frames_of(where, exclude)
            if where.is_dir()
            else expand_inputs([str(where)], exclude=exclude)
        )
        name = text
        written = (row.get("output") or "").strip()
        if written:
            output = out / written
        else:
            first = frames[0] if frames else where
            output = out / (_stem_of(text) + _output_suffix(first, suffix))
        jobs.append(StackJob(name, tuple(map(str, frames)) or (str(where),), str(output)))
    return jobs


def _stem_of(stack: str) -> str:
    """An output name for a CSV row without one: the folder's name, the multi-page TIFF's
    stem, or the folder of a glob pattern."""
    import glob

    path = Path(stack)
    while glob.has_magic(str(path)) and path.parent != path:
        path = path.parent
    return path.stem or "stack"
