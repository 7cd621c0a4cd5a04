"""Claim a run folder for one command: refuse what it must not touch, and lock it while the command writes.

:func:`claim` refuses a folder that holds a previous run unless the command resumes or overwrites it,
and holds ``OUT/.pyronas.lock`` while the command runs: the file holds the PID and host, under a
:class:`filelock.FileLock` (an advisory ``flock`` on Unix, which the kernel drops when the process dies), so
a killed command's lock is taken over by the next one, while a live holder's is refused with its PID.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from pyronas.calls import argument
from pyronas.errors import OutputError, ensure_folder, writing
from pyronas.infer.checkpoint import CheckpointError
from pyronas.infer.rundir import CHECKPOINT, previous_run
from pyronas.validate import check_out_dir


def _out() -> str:
    """The output folder's setting as the caller types it: ``--out`` or ``out_dir``."""
    return argument("out_dir", flag="--out")


try:
    import fcntl
except ImportError:  # Windows: no shared-lock probe; a live holder is found when the lock is taken
    fcntl = None

LOCK = ".pyronas.lock"


class RunFolderError(OutputError):
    """An output folder that holds a previous run, or that another process is writing."""


def guard(path: str | os.PathLike | None, kind: str, *, resume: bool, overwrite: bool) -> None:
    """Refuse, in one line, an output folder that cannot hold this run, or holds a previous one not resumed."""
    if path is None:
        return
    check_out_dir(path)
    holder = lock_holder(path)
    if holder is not None:
        raise RunFolderError(_busy(path, holder))
    if resume and overwrite:
        raise RunFolderError(f"give {argument('resume', True)} (continue the run in {_out()}) or "
                             f"{argument('overwrite', True)} (start afresh), not both")  # fmt: skip
    found = previous_run(path)
    if found and not resume and not overwrite:
        raise RunFolderError(
            f"{path} holds a previous {kind} ({', '.join(found)}); pass {argument('resume', True)} to continue it, "
            f"{argument('overwrite', True)} to start afresh (its files move to previous-<time>), "
            f"or give a fresh {_out()}"
        )
    if resume and not (Path(path) / CHECKPOINT).is_file():
        raise CheckpointError(f"no checkpoint at {Path(path) / CHECKPOINT}; run without {argument('resume', True)} "
                              f"to start a new {kind}")  # fmt: skip


@contextlib.contextmanager
def claim(
    path: str | os.PathLike | None, kind: str, *, resume: bool = False, overwrite: bool = False, write: bool = True
) -> Iterator[None]:
    """Context of a command writing ``path``: :func:`guard`, then hold its lock (nothing for ``write=False``)."""
    if path is None or not write:
        yield
        return
    guard(path, kind, resume=resume, overwrite=overwrite)
    with RunLock(path):
        yield


def lock_holder(path: str | os.PathLike) -> str | None:
    """``"PID host"`` of the live process holding ``path``'s lock, or ``None`` when no process holds it."""
    lock = Path(path) / LOCK
    if fcntl is None or not lock.is_file() or str(lock.resolve()) in RunLock.held:
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.read(fd, 200).decode(errors="replace").strip() or "unknown"
    finally:
        os.close(fd)  # closing drops a shared lock taken above
    return None


def _busy(path: str | os.PathLike, holder: str) -> str:
    return (
        f"{path} is being written by another pyronas command (process {holder}); "
        "wait for it to end or give another --out"
    )


class _Replaced(Exception):
    """The locked file was removed (or replaced) by its releasing holder between our open and our lock."""


class RunLock:
    """``OUT/.pyronas.lock``: this process's PID and host, under an exclusive :class:`filelock.FileLock` while held.

    The kernel drops the ``flock`` of a killed process, so its leftover file is taken over by the next
    command; a live holder's lock is refused with its PID. Re-entrant within a process. On release the file
    is removed before it is unlocked; a command that locked the removed file in between (its inode is no
    longer the path's) lets it go and locks the path's new file, so two commands never both hold a folder.
    """

    held: dict[str, FileLock] = {}  # resolved lock path -> the lock, for this process

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK
        self.key, self.lock, self.created = str(self.path.resolve()), None, False

    def __enter__(self) -> RunLock:
        if self.key in RunLock.held:  # re-entered by this process: the outer holder releases it
            return self
        self.created = not self.folder.exists()
        ensure_folder(self.folder)
        while True:
            lock = FileLock(self.path, timeout=0, thread_local=False, fallback_to_soft=False, on_acquired=self._claim)
            with writing(self.path):  # filelock's Timeout is an OSError: caught first
                try:
                    lock.acquire()
                except Timeout:
                    raise RunFolderError(_busy(self.folder, _holder_of(self.path))) from None
                except _Replaced:  # rolled back by filelock: lock the path's current file
                    continue
            break
        self.lock = RunLock.held[self.key] = lock
        return self

    def _claim(self, fd: int) -> None:
        """Called by filelock with the locked descriptor: check it is the path's file, then write PID and host."""
        try:
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise _Replaced
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())

    def __exit__(self, *exc) -> None:
        if self.lock is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # before unlocking: a command that locks the removed file lets it go (_claim)
        self.lock.release()
        del RunLock.held[self.key]
        self.lock = None
        if self.created:  # a command that wrote nothing leaves no folder behind
            with contextlib.suppress(OSError):
                self.folder.rmdir()


def _holder_of(lock: Path) -> str:
    try:
        return lock.read_text(errors="replace").strip() or "unknown"
    except OSError:  # removed meanwhile, or unreadable while locked (Windows)
        return "unknown"
