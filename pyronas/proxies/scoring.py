"""Scoring cells with proxies: seeded networks, one image batch, CSV output."""

from __future__ import annotations

import contextlib
import copy
import csv
import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from pyronas.data import Batches, ImageData
from pyronas.errors import ensure_folder, writing
from pyronas.proxies._layers import finite_or_nan
from pyronas.proxies.registry import PROXIES, proxy_names
from pyronas.spaces import SearchSpace, get_space
from pyronas.validate import check_out_dir, check_out_file


def proxy_batch(
    data: ImageData,
    batch_size: int = 64,
    *,
    seed: int = 0,
    mean: torch.Tensor | None = None,
    std: torch.Tensor | None = None,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One shuffled, normalised, un-augmented batch ``(images [B, C, H, W], labels [B])`` of ``data``.

    Normalisation is that of :class:`pyronas.data.Batches` (per-channel statistics of ``data``
    unless ``mean`` and ``std`` are given).
    """
    batches = Batches(data, batch_size, augment=False, mean=mean, std=std, device=device, seed=seed)
    return next(iter(batches))


def score(
    cell: str,
    proxies: str | Iterable[str],
    images: torch.Tensor,
    labels: torch.Tensor,
    seed: int = 0,
    *,
    space: SearchSpace | str = "nb201",
    channels: int = 16,
    cells_per_stage: int = 5,
    num_classes: int = 10,
) -> dict[str, float]:
    """Proxy scores ``{name: value}`` of a cell's standalone network, NaN where undefined.

    The network is built under ``torch.manual_seed(seed)`` (the global RNG state is restored
    afterwards), put in training mode on ``images.device``, and each proxy gets its own copy.
    """
    space = get_space(space) if isinstance(space, str) else space
    names = proxy_names(proxies)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = space.network(
            cell,
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            in_channels=images.shape[1],
        )
    net = net.to(images.device).train()
    out = {}
    for name in names:
        try:
            out[name] = finite_or_nan(PROXIES[name](copy.deepcopy(net), images, labels))
        except (torch.linalg.LinAlgError, FloatingPointError, ZeroDivisionError):
            out[name] = math.nan
    return out


def score_cells(
    cells: Sequence[str],
    proxies: str | Iterable[str],
    images: torch.Tensor,
    labels: torch.Tensor,
    seed: int = 0,
    *,
    space: SearchSpace | str = "nb201",
    progress: bool = False,
    **network,
) -> list[dict]:
    """``[{"arch": cell, <proxy>: value, ...}]`` for every cell (all validated before any is scored).

    ``network`` holds the keywords of :func:`score` that size the network.
    """
    space = get_space(space) if isinstance(space, str) else space
    names = proxy_names(proxies)
    cells = [space.validate(cell) for cell in cells]
    rows = []
    shown = progress and sys.stderr.isatty()  # no bar in a redirected log
    for cell in tqdm(cells, disable=not shown, desc="proxies", unit="cell", dynamic_ncols=True):
        rows.append({"arch": cell, **score(cell, names, images, labels, seed, space=space, **network)})
    return rows


def read_cells(path: str | os.PathLike) -> list[str]:
    """Cell strings of a text file, one a line; blank lines and ``#`` comments are skipped."""
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    except OSError as e:
        raise ValueError(f"cannot read cells from {path}: {e.strerror}") from None


def output_csv(out: str | os.PathLike) -> Path:
    """The CSV file that ``--out`` names (a ``.csv`` file, or a folder for ``proxies.csv``), its folder created.

    One-line errors, before any scoring, for a path that is not a folder or cannot be written.
    """
    out = Path(out)
    if out.suffix == ".csv":
        check_out_file(out)
    else:
        check_out_dir(out)
    path = out if out.suffix == ".csv" else out / "proxies.csv"
    check_out_file(path)
    ensure_folder(path.parent)
    return path


def write_csv(rows: Sequence[dict], proxies: Sequence[str], path: str | os.PathLike) -> None:
    """Write ``arch,<proxy>...`` rows (undefined, NaN, scores are empty fields) atomically: a failed write (a
    full disk) leaves no partial file and raises a one-line :class:`~pyronas.errors.OutputError`."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with writing(path), open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["arch", *proxies])
            for row in rows:
                values = [row[name] for name in proxies]
                writer.writerow([row["arch"], *("" if math.isnan(v) else repr(v) for v in values)])
            f.flush()
            os.fsync(f.fileno())
        with writing(path):
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
