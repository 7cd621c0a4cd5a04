"""On-disk cache of latency tables: ``<dir>/<device name>-<hash of the shapes>.json``.

The directory is ``cache_dir`` if given, else ``$PYRONAS_CACHE/latency`` (default ``~/.cache/pyronas/latency``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from pathlib import Path

import torch

from pyronas.costs.grouped import GroupedCostTable
from pyronas.costs.joint import CostTables, JointCostTable
from pyronas.costs.table import CostTable


def device_name(device: torch.device | str) -> str:
    """A readable name of the hardware behind ``device``: the GPU's name, or the CPU's model and thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type != "cpu":
        return device.type
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model} {torch.get_num_threads()} threads"


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The latency cache directory (see the module docstring)."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("PYRONAS_CACHE", Path.home() / ".cache" / "pyronas")) / "latency"


def cache_path(device: str, key: dict, directory: str | os.PathLike | None = None) -> Path:
    """The file of the table measured on ``device`` (a :func:`device_name`) for ``key`` (JSON-able shapes)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir(directory) / f"{slug}-{digest}.json"


def load(path: Path) -> CostTables | None:
    """The cached table at ``path``, or ``None`` if there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text())
        kinds = {"joint": JointCostTable, "grouped": GroupedCostTable}
        return kinds.get(data.get("kind"), CostTable).from_json(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(path: Path, table: CostTables) -> None:
    """Write ``table`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(table.to_json()))
    os.replace(tmp, path)
