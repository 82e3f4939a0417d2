"""A command's outputs, written all together or not at all.

Every output is checked and reserved before any work is done: the suffix, that it is not an
input or another output of the same command, that its folder exists and takes a new file, and
that its name is not too long. Reserving creates the temporary file the output is later
written to, which proves the folder is writable. `OutputSet.commit` renames every temporary
file into place; on any exception, Ctrl-C included, the temporary files and the folders the set
created are removed instead. Files are created with the mode ``cp`` would give them (0666 less
the umask, or the mode of the file they replace), not the 0600 of a temporary file.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from .codecs import IMAGE_SUFFIXES, encode_image
from .errors import OutputError

__all__ = ["OutputSet", "IMAGE_SUFFIXES", "same_file", "replace_atomically"]

_TEMPORARY_PREFIX = ".mfif-"  # short, so a long output name still fits NAME_MAX
_TEMPORARY_SUFFIX = ".part"


class OutputSet:
    """The outputs of one command; use as a context manager.

    Parameters
    ----------
    protected : sequence of path-like
        Files that must never be written (the command's inputs).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> folder = Path(tempfile.mkdtemp())
    >>> with OutputSet() as outputs:
    ...     fused = outputs.file(folder / "fused.png")
    ...     outputs.write_image(fused, np.zeros((4, 4), np.float32))
    >>> sorted(p.name for p in folder.iterdir())
    ['fused.png']
    """

    def __init__(self, protected: Sequence[str | os.PathLike] = ()) -> None:
        self._protected = [Path(p) for p in protected]
        self._temporaries: dict[Path, Path] = {}  # target -> its reserved temporary file
        self._written: set[Path] = set()
        self._keys: dict[str, Path] = {}  # canonical path -> target, to find collisions
        self._created_folders: list[Path] = []
        self._folder_keys: set[str] = set()
        self._done = False

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def folder(self, path: str | os.PathLike) -> Path:
        """Check ``path`` as an output folder and create it (with its parents) if needed.

        Raises
        ------
        OutputError
            ``path`` is an existing file, or cannot be created.
        """
        target = Path(path)
        key = _canonical(target)
        if key in self._keys:
            raise OutputError(
                f"{target} is both an output file and an output folder of this command; "
                "give each its own path."
            )
        if target.exists() and not target.is_dir():
            raise OutputError(f"Cannot write into {target}: it is a file, not a folder.")
        missing = []
        for folder in (target, *target.parents):
            if folder.exists():
                break
            if not folder.parent.is_dir() and folder.parent.exists():
                raise OutputError(f"Cannot create {target}: {folder.parent} is not a folder.")
            missing.append(folder)
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as failure:
                reason = _reason(failure)
                raise OutputError(f"Cannot create the folder {folder}: {reason}.") from None
            self._created_folders.append(folder)
        self._folder_keys.add(key)
        return target

    def file(self, path: str | os.PathLike, *, image: bool = True) -> Path:
        """Check ``path`` as an output file and reserve its temporary file.

        Parameters
        ----------
        path : path-like
            The file to write.
        image : bool, keyword-only
            Require an image suffix (.png, .jpg, .jpeg, .bmp, .tif, .tiff).

        Raises
        ------
        OutputError
            Wrong suffix, an input of the command, the same file as another output, an
            existing folder, a missing or unwritable folder, or a name too long for the folder.
        """
        target = Path(path)
        if image and target.suffix.lower() not in IMAGE_SUFFIXES:
            raise OutputError(
                f"Cannot write {target}: the file name must end in one of "
                f"{', '.join(IMAGE_SUFFIXES)}."
            )
        _check_name_length(target)
        for other in self._protected:
            if same_file(target, other):
                raise OutputError(
                    f"Refusing to overwrite the input {other}; choose another output path."
                )
        key = _canonical(target)
        if key in self._keys or key in self._folder_keys:
            raise OutputError(
                f"Two outputs of this command are the same path, {target}; give each its own."
            )
        if target.is_dir():
            raise OutputError(f"Cannot write {target}: it is a folder.")
        folder = target.parent
        if not folder.is_dir():
            why = (
                f"{folder} is not a folder"
                if folder.exists()
                else f"the folder {folder} does not exist"
            )
            raise OutputError(f"Cannot write {target}: {why}.")
        try:
            descriptor, temporary = tempfile.mkstemp(
                prefix=_TEMPORARY_PREFIX, suffix=_TEMPORARY_SUFFIX, dir=folder
            )
        except OSError as failure:
            raise OutputError(f"Cannot write {target}: {_reason(failure)}.") from None
        try:
            os.fchmod(descriptor, _creation_mode(target))
        finally:
            os.close(descriptor)
        self._temporaries[target] = Path(temporary)
        self._keys[key] = target
        return target

    def write_bytes(self, target: Path, payload: bytes) -> None:
        """Write ``payload`` to the temporary file of a reserved output."""
        temporary = self._reserved(target)
        try:
            with open(temporary, "wb") as handle:
                handle.write(payload)
        except OSError as failure:
            raise OutputError(f"Cannot write {target}: {_reason(failure)}.") from None
        self._written.add(target)

    def write_text(self, target: Path, text: str) -> None:
        """Write UTF-8 ``text`` to the temporary file of a reserved output."""
        self.write_bytes(target, text.encode("utf-8"))

    def write_image(
        self,
        target: Path,
        image: np.ndarray,
        *,
        bit_depth: int | None = None,
        metadata_from: Path | None = None,
    ) -> None:
        """Encode ``image`` (see `mfif.codecs.encode_image`) into a reserved output."""
        payload = encode_image(
            image, target.suffix, bit_depth=bit_depth, metadata_from=metadata_from
        )
        self.write_bytes(target, payload)

    def commit(self) -> list[Path]:
        """Rename every written output into place; returns the targets.

        Raises
        ------
        OutputError
            A rename failed; nothing is left behind then (outputs already renamed that
            did not exist before are removed).
        """
        if self._done:
            return list(self._temporaries)
        unwritten = [t for t in self._temporaries if t not in self._written]
        if unwritten:
            self.abort()
            raise RuntimeError(f"Reserved outputs were never written: {unwritten}")
        placed: list[Path] = []
        try:
            for target, temporary in self._temporaries.items():
                existed = target.exists()
                os.replace(temporary, target)
                if not existed:
                    placed.append(target)
        except BaseException as failure:
            for target in placed:
                target.unlink(missing_ok=True)
            self.abort()
            if isinstance(failure, OSError):
                raise OutputError(f"Cannot write {target}: {_reason(failure)}.") from None
            raise
        self._done = True
        return list(self._temporaries)

    def abort(self) -> None:
        """Remove every temporary file and every folder this set created (if empty)."""
        if self._done:
            return
        self._done = True
        for temporary in self._temporaries.values():
            try:
                temporary.unlink(missing_ok=True)
            except OSError:
                pass
        for folder in reversed(self._created_folders):
            try:
                folder.rmdir()
            except OSError:  # not empty: something else wrote there meanwhile
                pass

    def _reserved(self, target: Path) -> Path:
        try:
            return self._temporaries[Path(target)]
        except KeyError:
            raise RuntimeError(f"{target} was not reserved as an output") from None


def replace_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """One file replaced as a whole: ``write(temporary)`` fills a temporary file beside
    ``path``, which is then renamed over it, so a crash leaves the old file or the new one,
    never half of one (for state a command keeps: checkpoints, caches; a command's outputs
    go through `OutputSet`).

    Parameters
    ----------
    path : path-like
        Its folder is created if missing.
    write : callable
        Writes the whole new content into the path it is given.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(
        f"{_TEMPORARY_PREFIX}{target.name}.{os.getpid()}{_TEMPORARY_SUFFIX}"
    )
    try:
        write(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same file (also through links or '..')."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        pass
    return _canonical(a) == _canonical(b)


def _canonical(path: Path) -> str:
    parent = os.path.realpath(path.parent)
    return os.path.normcase(os.path.join(parent, path.name))


def _check_name_length(target: Path) -> None:
    try:
        limit = os.pathconf(target.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    length = len(os.fsencode(target.name))
    if length > limit:
        raise OutputError(
            f"Cannot write {target.name[:40]}...: the file name is {length} bytes long, more "
            f"than the {limit} its folder allows."
        )


_UMASK: int | None = None


def _creation_mode(target: Path) -> int:
    """The mode a new file gets from ``open`` (0666 less the umask), or the mode of the file
    it replaces."""
    global _UMASK
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        pass
    if _UMASK is None:
        _UMASK = os.umask(0o022)  # os.umask only reads by setting: set it back at once
        os.umask(_UMASK)
    return 0o666 & ~_UMASK


def _reason(failure: OSError) -> str:
    if failure.errno == errno.ENOSPC:
        return "the disk is full"
    if failure.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if failure.errno == errno.EROFS:
        return "the file system is read-only"
    return (failure.strerror or type(failure).__name__).rstrip(".").lower()
