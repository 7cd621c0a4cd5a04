"""NAS-Bench-201 lookup table: real benchmark accuracies for all 15,625 cells.

The table is the CSV described in ``shared/data/README.md`` (columns ``index, arch, params_m,
cifar10_valid, cifar10_test, ...``). pyronas ships no copy: pass its path, or set the
``PYRONAS_NB201`` environment variable. A table that was cut (rows missing, a short last line, or one
without its line break) is refused with :class:`BenchmarkError`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

from pyronas.spaces.nb201_cells import NUM_CELLS, canonical

ENV_VAR = "PYRONAS_NB201"
HEADLINE = ("cifar10_valid", "cifar10_test", "cifar100_test", "imagenet16_test")


class BenchmarkError(RuntimeError):
    """The benchmark table is missing, unreadable, incomplete or lacks a cell."""


def _incomplete(path: Path, what: str) -> BenchmarkError:
    return BenchmarkError(
        f"NB201 table {path} is incomplete: {what}; use a complete nb201_accuracy.csv "
        f"({NUM_CELLS:,} rows, indices 0..{NUM_CELLS - 1}, as in shared/data/nb201)"
    )


def _whole_rows(path: Path, reader: csv.DictReader) -> Iterator[dict]:
    """The reader's rows; a line with fewer or more fields than the header is refused."""
    for row in reader:
        extra = row.pop(None, None)
        missing = sum(value is None for value in row.values())  # csv fills the fields a short line lacks with None
        if missing:
            raise _incomplete(path, f"line {reader.line_num} has {len(row) - missing} of {len(row)} fields")
        if extra:
            raise ValueError(f"line {reader.line_num} has {len(row) + len(extra)} fields, the header {len(row)}")
        yield row


def _check_complete(path: Path, rows: list[dict]) -> None:
    """Refuse a table that was cut: a last line without its line break, or cells missing."""
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) not in (b"\n", b"\r"):
            raise _incomplete(path, "its last line has no line break, so it may be cut")
    missing = sorted(set(range(NUM_CELLS)) - {row["index"] for row in rows})
    if missing or len(rows) != NUM_CELLS:
        shown = ", ".join(map(str, missing[:3])) + (", ..." if len(missing) > 3 else "")
        raise _incomplete(path, f"{len(rows):,} rows" + (f", indices {shown} missing" if missing else ""))
    cells = len({row["arch"] for row in rows})
    if cells != NUM_CELLS:
        raise _incomplete(path, f"{len(rows):,} rows but {cells:,} distinct cells")


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
                self._rows = [self._convert(row) for row in _whole_rows(self.path, reader)]
            _check_complete(self.path, self._rows)
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
