"""One run folder for searches and trainings: ``log.jsonl``, ``checkpoint.pt``, ``result.json``, resume checks.

A :class:`RunDir` writes one JSON line per epoch, an atomic checkpoint after it, and the result at the
end; ``load()`` returns the checkpoint to resume from after checking that it was written by a run
with the same *resume key* (the settings that change the trajectory). Checkpoints written before
resume keys existed hold only their config; ``read_key`` turns such a config into its key. With
``tensorboard`` the epoch records also go to ``OUT/tensorboard`` (``torch.utils.tensorboard``).

With ``overwrite``, a new run's :meth:`RunDir.start` first moves a previous run's files to
``OUT/previous-<time>`` (never truncating them); every start removes the temporary files of writes cut
short by a kill. :mod:`pyronas.infer.claim` guards and locks the folder for a whole command.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from pyronas.calls import argument, on_cli
from pyronas.errors import ensure_folder, writing
from pyronas.infer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, save_json

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
RESULT = "result.json"
TENSORBOARD = "tensorboard"
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
        extends: the resume key of the run this one extends to more epochs (its checkpoint is also accepted).
        extended: the run's extension records, written into each checkpoint (:mod:`pyronas.run_settings`).
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
        names: Mapping[str, tuple[Sequence[str], Sequence[Sequence[str]]]] | None = None,
        extends: Mapping | None = None,
        extended: Sequence[Mapping] | None = None,
    ):
        self.path = None if path is None else Path(path)
        self.overwrite = overwrite
        self.kind, self.write = kind, write and path is not None
        self.config = dict(config or {})
        self.resume_key = dict(resume_key if resume_key is not None else self.config)
        self.read_key = read_key or dict
        self.tensorboard = tensorboard and self.write
        self.names = names
        self.extends = None if extends is None else dict(extends)
        self.extended = list(extended or [])
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
        if stored != self.resume_key and (self.extends is None or stored != self.extends):
            differs = _difference(stored, self.resume_key)
            raise CheckpointError(
                f"checkpoint was written by a different {self.kind} configuration{differs}; use a new "
                f"{argument('out_dir', flag='--out')} or drop {argument('resume', True)}"
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
            _to_board(self._board, record, self.names)
        if state is not None:
            extended = {"extended": self.extended} if self.extended else {}
            save_checkpoint({"format": 1, **state, "config": self.config, "resume_key": self.resume_key, **extended},
                            self.path / CHECKPOINT)  # fmt: skip

    def result(self, record: dict) -> None:
        if self.write:
            save_json(record, self.path / RESULT)
        self.close()

    def close(self) -> None:
        """Close the TensorBoard writer, if any (the log and checkpoints need no closing)."""
        if self._board is not None:
            self._board.close()
            self._board = None


def _difference(stored: Mapping | None, key: Mapping) -> str:
    """``": NAME is OLD there, NEW here"`` for the first setting in which two resume keys differ ("" if none)."""
    stored = stored if isinstance(stored, Mapping) else {}
    for name in (*key, *stored):
        if key.get(name) != stored.get(name):
            return f": {name} is {stored.get(name)!r} there, {key.get(name)!r} here"
    return ""


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


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says what was saved."""


def interrupted(kind: str, saved: int, path: str | os.PathLike | None) -> RunInterrupted:
    """The :class:`RunInterrupted` of a run whose checkpoint holds ``saved`` completed epochs."""
    if path is None or saved == 0:
        return RunInterrupted(f"{kind} interrupted before any epoch completed; nothing was saved")
    epochs = "epoch 1 is" if saved == 1 else f"epochs 1-{saved} are"
    command = "train" if kind == "training" else kind
    fix = f"pyronas {command} --out {shlex.quote(str(path))} --resume" if on_cli() else argument("resume", True)
    return RunInterrupted(f"{kind} interrupted; {epochs} in {Path(path) / CHECKPOINT} (continue with {fix})")


def kept(saved: int, path: str | os.PathLike | None) -> str:
    """What a failed run leaves: ``"the last checkpoint (epoch N) is kept"`` or ``"nothing was saved"``."""
    return f"the last checkpoint (epoch {saved}) is kept" if saved and path is not None else "nothing was saved"


def progress_bar(total: int, initial: int, desc: str, enabled: bool) -> tqdm:
    """A step bar on stderr, shown only when ``enabled`` and stderr is a terminal (a redirected log gets none)."""
    shown = enabled and _is_terminal(sys.stderr)
    return tqdm(total=total, initial=initial, disable=not shown, desc=desc, unit="step", dynamic_ncols=True)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


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


def _to_board(
    writer, record: Mapping, names: Mapping[str, tuple[Sequence[str], Sequence[Sequence[str]]]] | None = None
) -> None:
    """An epoch's scalars; op probabilities as ``op_probabilities/<table>/<row>/<candidate>``.

    ``names``: ``{table: (row names, candidate names per row)}`` (a space's ``row_names``/``candidate_names``);
    indices where a table is not named.
    """
    step = record["epoch"]
    for name in SCALARS:
        if record.get(name) is not None:
            writer.add_scalar(name, record[name], step)
    for cell, rows in (record.get("op_probabilities") or {}).items():
        row_names, candidates = (names or {}).get(cell, ((), ()))
        for edge, row in enumerate(rows):
            for op, p in enumerate(row):
                named = edge < len(row_names) and edge < len(candidates) and op < len(candidates[edge])
                edge_name, op_name = (row_names[edge], candidates[edge][op]) if named else (f"edge{edge}", f"op{op}")
                writer.add_scalar(f"op_probabilities/{cell}/{edge_name}/{op_name}", p, step)
    writer.flush()
