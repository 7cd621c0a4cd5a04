"""How a space's architecture tables sit in one dense ``(cell_type, edge, op)`` array, and back.

A cell space's tables all have the same rows (edges) and candidates (ops): the array is their stack, with
the names as coordinates. Where tables differ (:class:`~pyronas.spaces.ModuleSpace`: one table per number of
candidates, rows named by decision labels, candidates per row), ``edge`` is the union of the row names,
``op`` the candidate positions ``0..K_max-1``, entries a table does not have are NaN, and the coordinate
``candidate`` ``(cell_type, edge, op)`` names each entry (``""`` where padded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from pyronas.spaces import SearchSpace


@dataclass(frozen=True)
class Layout:
    """Coordinates of a space's dense array and where each table's entries are."""

    cell_types: list[str]
    edges: list[str]
    ops: list
    candidates: np.ndarray  # [T, R, K] str, "" where padded
    rows: dict[str, list[int]]  # table -> index into edges of each of its rows
    uniform: bool  # every table has the same rows and every row the same candidates

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.candidates.shape

    def dense(self, tables: Mapping[str, np.ndarray | torch.Tensor]) -> np.ndarray:
        """``{table: [..., rows, K]}`` as one array ``[..., T, R, K]``, NaN where a table has no entry."""
        first = np.asarray(next(iter(tables.values())), dtype=float)
        lead = first.shape[:-2]
        out = np.full((*lead, *self.shape), np.nan)
        for t, table in enumerate(self.cell_types):
            if table not in tables:
                continue
            values = np.asarray(tables[table], dtype=float)
            out[..., t, self.rows[table], : values.shape[-1]] = values
        return out

    def split(self, values: np.ndarray, width: Mapping[str, int]) -> dict[str, torch.Tensor]:
        """``[T, R, K]`` (or per table via ``cell_type`` order) back to ``{table: [rows, K_table]}`` tensors."""
        values = np.asarray(values, dtype=float)
        return {
            table: torch.from_numpy(np.ascontiguousarray(values[t][self.rows[table], : width[table]]))
            for t, table in enumerate(self.cell_types)
        }

    def entries(self, table: str) -> list[tuple[str, object, str]]:
        """``(edge coordinate, op coordinate, candidate name)`` of every real entry of ``table``."""
        t = self.cell_types.index(table)
        return [
            (self.edges[r], self.ops[k], str(self.candidates[t, r, k]))
            for r in self.rows[table]
            for k in range(self.shape[2])
            if self.candidates[t, r, k]
        ]


def layout(space: SearchSpace) -> Layout:
    """The :class:`Layout` of ``space`` (see the module docstring)."""
    tables = list(space.cell_types)
    row_lists = [list(space.row_names(t)) for t in tables]
    names = {t: space.candidate_names(t) for t in tables}
    edges: list[str] = []
    for rows in row_lists:
        edges += [r for r in rows if r not in edges]
    distinct = {n for t in tables for n in names[t]}
    uniform = all(rows == edges for rows in row_lists) and len(distinct) == 1
    width = max(len(n) for t in tables for n in names[t])
    ops = list(next(iter(distinct))) if uniform else list(range(width))
    candidates = np.full((len(tables), len(edges), width), "", dtype=object)
    positions = {}
    for t, table in enumerate(tables):
        positions[table] = [edges.index(r) for r in row_lists[t]]
        for r, row_names in zip(positions[table], names[table]):
            candidates[t, r, : len(row_names)] = row_names
    return Layout(tables, edges, ops, candidates.astype(str), positions, uniform)


def candidate_names(weights):
    """``names(cell, edge, op)`` read from the ``candidate`` coordinate of a ``(cell_type, edge, op)`` array
    (``""`` for padding), or ``None`` where it has none (every row has the ``op`` candidates)."""
    if "candidate" not in weights.coords:
        return None
    return lambda cell, edge, op: str(weights["candidate"].sel(cell_type=cell, edge=edge, op=op).values)


def widths(space: SearchSpace) -> dict[str, int]:
    """Candidates per row of each table, ``{table: K}``."""
    return {table: shape[1] for table, shape in space.arch_shape.items()}
