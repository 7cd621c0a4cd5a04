"""Atomic checkpoint files: write to a temporary file in the same folder, then rename.

A failed write (a full disk, a read-only folder) removes its temporary file, leaves the previous
file in place and raises a one-line :class:`~pyronas.errors.OutputError`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path

import torch

from pyronas.errors import CAUSES, OutputError, describe, full_disk

SUPERNET_STATE = "supernet."  # prefix of the supernet's entries in a search checkpoint's model state


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or written by a different configuration."""


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write ``state`` with ``torch.save`` so that ``path`` is never left half-written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise describe(e, path, _kept(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _discard(tmp)
        raise describe(e, path, _kept(path)) from None
    except RuntimeError as e:  # torch's zip writer reports a failed write as "unexpected pos ..."
        disk_full = full_disk(path.parent)
        _discard(tmp)
        if "unexpected pos" not in str(e):
            raise
        cause = CAUSES[errno.ENOSPC] if disk_full else "the write failed part-way (a full disk or a failing device?)"
        raise OutputError(f"cannot write {path}: {cause}{_kept(path)}") from None
    except BaseException:
        _discard(tmp)
        raise


def _kept(path: Path) -> str:
    return " (the previous checkpoint is intact)" if path.is_file() else " (no checkpoint was saved)"


def _discard(tmp: str | os.PathLike) -> None:
    with contextlib.suppress(OSError):
        Path(tmp).unlink(missing_ok=True)


def save_json(record: dict, path: str | os.PathLike) -> None:
    """Write ``record`` as indented JSON to ``path`` atomically (a temporary file, then a rename)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        _discard(tmp)
        raise describe(e, path) from None


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; one-line error if it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; run without --resume to start a new search")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many types for damaged files
        raise CheckpointError(
            f"checkpoint {path} is corrupt or unreadable ({type(e).__name__}); delete it, or start without --resume"
        ) from None
    if not isinstance(state, dict) or state.get("format") != 1:
        raise CheckpointError(f"{path} is not a pyronas checkpoint; delete it, or start without --resume")
    return state
