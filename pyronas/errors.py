"""One-line errors for files that cannot be written: the path, the cause and the fix."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

LOW_SPACE = 1 << 20  # bytes free under which a failed write is put down to a full disk


class OutputError(RuntimeError):
    """A file or folder that cannot be written."""


CAUSES = {
    errno.ENOSPC: "no space left on the device; free some space or choose another --out",
    errno.EDQUOT: "the disk quota is exhausted; free some space or choose another --out",
    errno.EROFS: "the file system is read-only; choose another --out",
    errno.EACCES: "permission denied; choose another --out or fix the folder's permissions",
    errno.EPERM: "operation not permitted; choose another --out or fix the folder's permissions",
    errno.EEXIST: "a file of that name is in the way; remove it or choose another --out",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another --out",
    errno.EISDIR: "it is a folder, not a file; choose another path",
}


def describe(error: OSError, path: str | os.PathLike, note: str = "") -> OutputError:
    """The one-line :class:`OutputError` of an ``OSError`` met while writing ``path``."""
    cause = CAUSES.get(error.errno, f"{error.strerror or error}")
    return OutputError(f"cannot write {path}: {cause}{note}")


def full_disk(folder: str | os.PathLike) -> bool:
    """Whether the file system of ``folder`` has (almost) no space left."""
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE
    except OSError:
        return False


@contextlib.contextmanager
def writing(path: str | os.PathLike, note: str = "") -> Iterator[None]:
    """Context that turns an ``OSError`` while writing ``path`` into a one-line :class:`OutputError`."""
    try:
        yield
    except OSError as e:
        raise describe(e, path, note) from None


def ensure_folder(path: str | os.PathLike) -> Path:
    """Create the folder ``path`` (and its parents); one-line :class:`OutputError` if that fails."""
    path = Path(path)
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
    return path
