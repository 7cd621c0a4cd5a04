"""One run folder for searches and trainings: ``log.jsonl``, ``checkpoint.pt``, ``result.json``, resume checks.

A :class:`RunDir` writes one JSON line per epoch, an atomic checkpoint after it, and the result at the
end; ``load()`` returns the checkpoint to resume from after checking that it was written by a run
with the same *resume key* (the settings that change the trajectory). Checkpoints written before
resume keys existed hold only their config; ``read_key`` turns such a config into its key. With
``tensorboard`` the epoch records also go to ``OUT/tensorboard`` (``torch.utils.tensorboard``).

:func:`claim` guards a folder for a command: it refuses a folder holding a previous run unless the
command resumes or overwrites it, and holds ``OUT/.pyronas.lock`` (this process's PID, under an
advisory ``flock`` that the kernel drops when the process dies, so a killed run's lock is taken over)
while the command writes. ``overwrite`` moves the previous run's files to ``OUT/previous-<time>``
when the new run starts writing, never truncating them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from tqdm.auto import tqdm

from pyronas.errors import OutputError, ensure_folder, writing
from pyronas.infer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, save_json
from pyronas.validate import check_out_dir

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the lock file is then only informative
    fcntl = None

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
RESULT = "result.json"
TENSORBOARD = "tensorboard"
LOCK = ".pyronas.lock"
RUN_FILES = (CHECKPOINT, LOG, RESULT, TENSORBOARD)  # what marks a folder as holding a run
STALE = (f"{CHECKPOINT}.*.tmp", f"{RESULT}.tmp")  # temporary files of writes cut short by a kill
SCALARS = ("train_loss", "train_acc", "valid_loss", "valid_acc", "test_loss", "test_acc", "entropy")


class RunDir:
    """A run's output folder (or none: ``path=None`` writes nothing and cannot resume).

    Args:
        path: the folder.
        kind: ``"search"`` or ``"training"``, for messages.
        config: JSON-able record stored in each checkpoint.
        resume_key: what a checkpoint must match to be resumed.
        read_key: the resume key of a stored ``config`` (checkpoints without ``resume_key``).
        write: write files (``False`` on all but rank 0 of a data-parallel run).
        tensorboard: also write the epoch scalars for TensorBoard.
        overwrite: on :meth:`start` of a new run, move a previous run's files to ``previous-<time>``.
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        kind: str = "search",
        *,
        config: Mapping | None = None,
        resume_key: Mapping | None = None,
        read_key: Callable[[Mapping], Mapping] | None = None,
        write: bool = True,
        tensorboard: bool = False,
        overwrite: bool = False,
    ):
        self.path = None if path is None else Path(path)
        self.overwrite = overwrite
        self.kind, self.write = kind, write and path is not None
        self.config = dict(config or {})
        self.resume_key = dict(resume_key if resume_key is not None else self.config)
        self.read_key = read_key or dict
        self.tensorboard = tensorboard and self.write
        self._board = None

    def load(self) -> dict:
        """The checkpoint to resume from; ``CheckpointError`` if missing, unreadable or of another configuration."""
        if self.path is None:
            raise CheckpointError(f"resume needs an output folder holding {CHECKPOINT}")
        state = load_checkpoint(self.path / CHECKPOINT)
        self.check(state)
        return state

    def check(self, state: Mapping) -> None:
        stored = state.get("resume_key")
        if stored is None:
            try:
                stored = self.read_key(state.get("config") or {})
            except (TypeError, ValueError):
                stored = None
        if stored != self.resume_key:
            raise CheckpointError(
                f"checkpoint was written by a different {self.kind} configuration; use a new --out or drop --resume"
            )

    def start(self, history: list[dict]) -> None:
        """Create the folder, drop stale temporary files and rewrite ``log.jsonl`` with the ``history`` being
        continued; a new run with ``overwrite`` first moves a previous run's files aside."""
        if not self.write:
            return
        ensure_folder(self.path)
        remove_stale(self.path)
        if self.overwrite and not history:
            move_aside(self.path)
        with writing(self.path / LOG):
            with open(self.path / LOG, "w") as f:
                f.writelines(json.dumps(record) + "\n" for record in history)
        if self.tensorboard:
            self._board = _board(self.path / TENSORBOARD)

    def log(self, record: dict, state: dict | None = None) -> None:
        """Append an epoch's record; with ``state``, then write the checkpoint (config and resume key added)."""
        if not self.write:
            return
        with writing(self.path / LOG), open(self.path / LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._board is not None:
            _to_board(self._board, record)
        if state is not None:
            save_checkpoint({"format": 1, **state, "config": self.config, "resume_key": self.resume_key},
                            self.path / CHECKPOINT)  # fmt: skip

    def result(self, record: dict) -> None:
        if self.write:
            save_json(record, self.path / RESULT)
        if self._board is not None:
            self._board.close()


def previous_run(path: str | os.PathLike) -> list[str]:
    """The run files (checkpoint, log, result, TensorBoard folder) in ``path``."""
    path = Path(path)
    return [name for name in RUN_FILES if (path / name).exists()]


def remove_stale(path: Path) -> None:
    """Delete the temporary files that writes cut short by a kill left in ``path``."""
    for pattern in STALE:
        for tmp in path.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def move_aside(path: Path) -> Path | None:
    """Move the run files in ``path`` into a new ``path/previous-<time>`` folder; returns it (``None``: none)."""
    found = previous_run(path)
    if not found:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest, n = path / f"previous-{stamp}", 1
    while dest.exists():
        n += 1
        dest = path / f"previous-{stamp}-{n}"
    ensure_folder(dest)
    for name in found:
        with writing(dest / name):
            os.replace(path / name, dest / name)
    return dest


def guard(path: str | os.PathLike | None, kind: str, *, resume: bool, overwrite: bool) -> None:
    """Refuse, in one line, an output folder that cannot hold this run, or holds a previous one not resumed."""
    if path is None:
        return
    check_out_dir(path)
    holder = lock_holder(path)
    if holder is not None:
        raise RunFolderError(_busy(path, holder))
    if resume and overwrite:
        raise RunFolderError("give --resume (continue the run in --out) or --overwrite (start afresh), not both")
    found = previous_run(path)
    if found and not resume and not overwrite:
        raise RunFolderError(
            f"{path} holds a previous {kind} ({', '.join(found)}); pass --resume to continue it, --overwrite "
            "to start afresh (its files move to previous-<time>), or give a fresh --out"
        )
    if resume and not (Path(path) / CHECKPOINT).is_file():
        raise CheckpointError(f"no checkpoint at {Path(path) / CHECKPOINT}; run without --resume to start a new {kind}")


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


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says what was saved."""


def interrupted(kind: str, saved: int, path: str | os.PathLike | None) -> RunInterrupted:
    """The :class:`RunInterrupted` of a run whose checkpoint holds ``saved`` completed epochs."""
    if path is None or saved == 0:
        return RunInterrupted(f"{kind} interrupted before any epoch completed; nothing was saved")
    epochs = "epoch 1 is" if saved == 1 else f"epochs 1-{saved} are"
    return RunInterrupted(f"{kind} interrupted; {epochs} in {Path(path) / CHECKPOINT} (continue with --resume)")


def kept(saved: int, path: str | os.PathLike | None) -> str:
    """What a failed run leaves: ``"the last checkpoint (epoch N) is kept"`` or ``"nothing was saved"``."""
    return f"the last checkpoint (epoch {saved}) is kept" if saved and path is not None else "nothing was saved"


class RunFolderError(OutputError):
    """An output folder that holds a previous run, or that another process is writing."""


class RunLock:
    """``OUT/.pyronas.lock``: this process's PID and host, under an exclusive ``flock`` while held.

    The kernel drops the ``flock`` of a killed process, so its leftover file is taken over by the next
    command; a live holder's lock is refused with its PID. Re-entrant within a process.
    """

    held: dict[str, int] = {}  # resolved lock path -> file descriptor, for this process

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK
        self.key, self.fd, self.created = str(self.path.resolve()), None, False

    def __enter__(self) -> RunLock:
        if self.key in RunLock.held:  # re-entered by this process: the outer holder releases it
            return self
        self.created = not self.folder.exists()
        ensure_folder(self.folder)
        while True:
            with writing(self.path):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise RunFolderError(_busy(self.folder, holder)) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:  # released and removed between our open and our lock
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self.fd = RunLock.held[self.key] = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # before unlocking, so that no one locks a removed file
        os.close(self.fd)
        del RunLock.held[self.key]
        self.fd = None
        if self.created:  # a command that wrote nothing leaves no folder behind
            with contextlib.suppress(OSError):
                self.folder.rmdir()


def progress_bar(total: int, initial: int, desc: str, enabled: bool) -> tqdm:
    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="step", dynamic_ncols=True)


def epoch_line(record: Mapping, epochs: int) -> str:
    """One short line for an epoch record: losses, accuracies, entropy, seconds."""
    parts = [f"epoch {record['epoch']}/{epochs}"]
    for group in ("train", "valid", "test"):
        if record.get(f"{group}_loss") is not None:
            parts.append(f"{group} loss {record[f'{group}_loss']:.3f} acc {record[f'{group}_acc']:.1f} %")
    if record.get("entropy") is not None:
        parts.append(f"entropy {record['entropy']:.3f}")
    parts.append(f"{record['seconds']:.0f} s")
    return "  ".join(parts)


def _board(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("tensorboard logging needs the tensorboard package (pip install tensorboard)") from None
    return SummaryWriter(str(path))


def _to_board(writer, record: Mapping) -> None:
    step = record["epoch"]
    for name in SCALARS:
        if record.get(name) is not None:
            writer.add_scalar(name, record[name], step)
    for cell, rows in (record.get("op_probabilities") or {}).items():
        for edge, row in enumerate(rows):
            for op, p in enumerate(row):
                writer.add_scalar(f"op_probabilities/{cell}/edge{edge}/op{op}", p, step)
    writer.flush()
