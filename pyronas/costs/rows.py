"""A space's decisions as one flat list of rows: every row of every architecture table, tables in ``arch_shape``
order. Cost tables of one's own networks index genotypes by their candidate on each row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from pyronas.spaces import SearchSpace


def row_sizes(space: SearchSpace) -> list[int]:
    """The number of candidates of every row, in flat row order."""
    return [k for rows, k in space.arch_shape.values() for _ in range(rows)]


def row_labels(space: SearchSpace) -> list[str]:
    """The name of every row (:meth:`~pyronas.spaces.SearchSpace.row_names`: a label of one's own network)."""
    return [name for cell in space.arch_shape for name in space.row_names(cell)]


def genotype_index(space: SearchSpace, genotype: str) -> tuple[int, ...]:
    """The candidate ``genotype`` chooses on every row, in flat row order."""
    hot = space.one_hot(genotype)
    return tuple(k for cell in space.arch_shape for k in hot[cell].argmax(-1).tolist())


def genotype_at(space: SearchSpace, index: Sequence[int]) -> str:
    """The genotype choosing candidate ``index[r]`` on every row ``r`` (flat row order)."""
    chosen = iter(index)
    scores = {}
    for cell, (rows, k) in space.arch_shape.items():
        scores[cell] = torch.zeros(rows, k)
        for r in range(rows):
            scores[cell][r, int(next(chosen))] = 1.0
    return space.derive(scores)


class RowTable:
    """What cost tables indexed by rows share: ``rows = {table: number of rows}``, whose tables' weights they read."""

    rows: dict[str, int]

    @property
    def cell_types(self) -> tuple[str, ...]:
        """The architecture tables whose weights the expected cost reads."""
        return tuple(self.rows)


def row_distributions(p: Mapping[str, torch.Tensor], rows: Mapping[str, int]) -> list[torch.Tensor]:
    """Per-table distributions ``{table: [..., rows, K]}`` as one ``[..., K]`` tensor per row, in flat row order."""
    return [p[cell][..., r, :] for cell, count in rows.items() for r in range(count)]
