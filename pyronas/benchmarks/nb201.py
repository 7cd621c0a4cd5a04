"""NAS-Bench-201 lookup table: real benchmark accuracies for all 15,625 cells.

The table is the CSV described in ``shared/data/README.md`` (columns ``index, arch, params_m,
cifar10_valid, cifar10_test, ...``). pyronas ships no copy: pass its path, or set the
``PYRONAS_NB201`` environment variable.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from pyronas.spaces.nb201_cells import canonical

ENV_VAR = "PYRONAS_NB201"
HEADLINE = ("cifar10_valid", "cifar10_test", "cifar100_test", "imagenet16_test")


class BenchmarkError(RuntimeError):
    """The benchmark table is missing, unreadable or lacks a cell."""


def resolve_path(path: str | os.PathLike | None = None) -> Path:
    """The table path: ``path`` if given, else ``$PYRONAS_NB201``; raises if neither exists."""
    if path is None:
        path = os.environ.get(ENV_VAR)
        if not path:
            raise BenchmarkError(f"no NB201 table given: pass --benchmark PATH or set {ENV_VAR} to nb201_accuracy.csv")
    path = Path(path).expanduser()
    if not path.is_file():
        raise BenchmarkError(f"NB201 table not found at {path}: pass the path of nb201_accuracy.csv")
    return path


class NB201Table:
    """Query NAS-Bench-201 results by cell string or benchmark index.

    Rows are dicts: ``index`` (int), ``arch`` (str) and float columns (``None`` where blank).
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = resolve_path(path)
        try:
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames or "arch" not in reader.fieldnames or "index" not in reader.fieldnames:
                    raise BenchmarkError(f"{self.path} is not an NB201 table: it lacks 'index' and 'arch' columns")
                self.columns = tuple(c for c in reader.fieldnames if c not in ("index", "arch"))
                self._rows = [self._convert(row) for row in reader]
        except (OSError, UnicodeDecodeError, csv.Error, ValueError) as e:
            raise BenchmarkError(f"cannot read NB201 table {self.path}: {e}") from None
        self._by_arch = {row["arch"]: row for row in self._rows}
        self._by_index = {row["index"]: row for row in self._rows}

    @staticmethod
    def _convert(row: dict) -> dict:
        out = {"index": int(row["index"]), "arch": row["arch"]}
        for key, value in row.items():
            if key not in out:
                out[key] = float(value) if value not in ("", None) else None
        return out

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self):
        return iter(self._rows)

    def __contains__(self, cell: str) -> bool:
        return canonical(cell) in self._by_arch

    def query(self, cell: str | int) -> dict:
        """The row of a cell string (validated, canonicalised) or a benchmark index."""
        if isinstance(cell, int):
            try:
                return dict(self._by_index[cell])
            except KeyError:
                raise BenchmarkError(f"NB201 index {cell} is not in {self.path}") from None
        key = canonical(cell)
        try:
            return dict(self._by_arch[key])
        except KeyError:
            raise BenchmarkError(f"cell {key} is not in {self.path}") from None

    def index(self, cell: str) -> int:
        """Benchmark index of a cell string."""
        return self.query(cell)["index"]

    def cell(self, index: int) -> str:
        """Cell string of a benchmark index."""
        return self.query(int(index))["arch"]

    def accuracies(self, cell: str) -> dict:
        """The headline accuracies (%) of a cell: CIFAR-10 valid/test, CIFAR-100 and ImageNet16-120 test."""
        row = self.query(cell)
        return {key: row[key] for key in HEADLINE if key in row}
