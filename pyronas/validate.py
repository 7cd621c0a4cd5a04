"""Checks run before a command writes a file or starts computing: numbers, device, output path.

Each check raises a one-line ``ValueError`` that names the setting, the value and what it must be.
:func:`pyronas.config.resolve` and :meth:`pyronas.train_config.TrainConfig.check` call them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Test = tuple[Callable[[Any], bool], str]  # (test of a present value, what the value must be)


def _int(low: int) -> Test:
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low), f"an integer >= {low}"


def _real(low: float, *, strict: bool) -> Test:
    def ok(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return v > low if strict else v >= low

    return ok, f"a finite number {'>' if strict else '>='} {low:g}"


POSITIVE_INT, NATURAL = _int(1), _int(0)
POSITIVE, NON_NEGATIVE = _real(0, strict=True), _real(0, strict=False)
FRACTION: Test = (lambda v: NON_NEGATIVE[0](v) and v < 1), "a number in [0, 1)"

SEARCH_LIMITS: dict[str, Test] = {  # flat field of a resolved SearchConfig -> its test (``None`` always passes)
    "batch_size": POSITIVE_INT,
    "train_size": POSITIVE_INT,
    "image_size": POSITIVE_INT,
    "channels": POSITIVE_INT,
    "cells_per_stage": POSITIVE_INT,
    "weight_lr": POSITIVE,
    "weight_lr_min": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "grad_clip": POSITIVE,
    "arch_lr": POSITIVE,
    "arch_weight_decay": NON_NEGATIVE,
    "epochs": POSITIVE_INT,
    "seed": NATURAL,
    "select_batches": POSITIVE_INT,
    "cost_weight": NON_NEGATIVE,
}


def check_limits(settings: Any, limits: Mapping[str, Test], command: str) -> None:
    """Raise for the first present setting of ``settings`` (a config indexed by field name) that fails its test."""
    for name, (ok, what) in limits.items():
        value = settings[name]
        if value is not None and not ok(value):
            raise ValueError(f"{name} = {value!r} is out of range (must be {what}); see pyronas {command} --help")


def check_stages(stages: list[Mapping]) -> None:
    """Each stage's warm-up lies within it."""
    for i, stage in enumerate(stages):
        if stage["warmup_epochs"] > stage["epochs"]:
            where = "" if len(stages) == 1 else f" in stage {i + 1}"
            raise ValueError(
                f"warmup_epochs = {stage['warmup_epochs']} exceeds epochs = {stage['epochs']}{where}; "
                "the warm-up is part of the epochs"
            )


def check_device(device: str | torch.device) -> None:
    """The device exists on this machine (``cuda`` without a GPU, or ``tpu``, is a one-line error)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {device} is not a torch device; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cpu":
        return
    backend = {"mps": getattr(torch.backends, "mps", None)}.get(dev.type, getattr(torch, dev.type, None))
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise ValueError(f"--device {device}: torch finds no {dev.type} device on this machine; use --device cpu")
    count = getattr(backend, "device_count", None)
    if dev.index is not None and count is not None and dev.index >= count():
        raise ValueError(f"--device {device} does not exist: this machine has {count()} {dev.type} device(s)")


def check_out_dir(path: str | os.PathLike | None, option: str = "--out") -> None:
    """``path`` is a folder, or can be created as one, and is writable."""
    if path is None:
        return
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file, not a folder; give a folder path")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {path} lies below the file {existing}; give a folder path")
    check_writable(existing, option, path)


def check_out_file(path: str | os.PathLike, option: str = "--out") -> None:
    """``path`` is a file that can be written: not a folder, nor below a file, its folder writable."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file path")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {path} lies below the file {existing}; give a path in a folder")
    check_writable(existing, option, path)


def check_writable(folder: Path, option: str, target: Path) -> None:
    """The existing folder ``folder`` (``target`` or an ancestor of it) lets this process create files."""
    if os.access(folder, os.W_OK | os.X_OK):
        return
    why = "on a read-only file system" if _read_only(folder) else "not writable by this user"
    raise ValueError(f"{option} {target}: {folder} is {why}; choose another {option}")


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False
