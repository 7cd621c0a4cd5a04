"""Joint cost tables: the measured cost of every genotype of a space whose costs need not add up per decision.

In a network of your own (:class:`~pyronas.spaces.ModuleSpace`) one decision can change what another costs: a
:class:`~pyronas.nn.WidthChoice` narrows the layers around it, so the parameters of a following convolution are
``k * k * w_in * w_out`` and the cost of a kernel choice depends on the width choice. No fixed part plus one cost per
candidate gives such costs, so a space that does not map network modules to candidates (``chosen_ops``) but
enumerates its genotypes (``genotypes``, at most :attr:`~pyronas.spaces.ModuleSpace.max_genotypes`) is costed
genotype by genotype: its standalone network (``space.network``, what runs: chosen candidates only, real widths) is
built and measured once per genotype, and the table keeps ``cost[a_1, ..., a_R]``, one axis per row (decision) of
each architecture table. Under independent per-row distributions ``p_r`` the expected cost
``sum_a cost[a] * prod_r p_r[a_r]`` is then exact, whatever the interactions: one tensor contraction
(:meth:`JointCostTable.expected`), differentiable in the ``p_r``. A space with more genotypes than it enumerates is
costed by groups of interacting decisions instead (:mod:`pyronas.costs.grouped`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from pyronas.costs.candidates import build
from pyronas.costs.grouped import GroupedCostTable, grouped_table
from pyronas.costs.rows import RowTable, genotype_at, genotype_index, row_distributions, row_sizes
from pyronas.costs.table import CostTable, NetworkSize
from pyronas.spaces import SearchSpace


def per_genotype(space: SearchSpace) -> bool:
    """Whether ``space`` is costed on whole networks (:func:`joint_table`): it does not map a network's modules
    to candidate ops (:meth:`~pyronas.spaces.SearchSpace.chosen_ops`), so its costs cannot be split per candidate."""
    return type(space).chosen_ops is SearchSpace.chosen_ops


@dataclass(frozen=True)
class JointCostTable(RowTable):
    """The cost of every genotype of a space, one axis per decision.

    Attributes:
        metric, unit: what is counted and its unit (as :class:`~pyronas.costs.CostTable`'s).
        costs: float64 ``[K_1, ..., K_R]``; the axes are the rows of each architecture table, tables in the
            space's ``arch_shape`` order, and ``costs[a]`` is the cost of the standalone network of the genotype
            choosing candidate ``a_r`` on row ``r``.
        rows: ``{table: number of rows}``, in the space's order.
        space: the search space's name.
        size: the network the table was measured on.
        info: anything else worth keeping (genotypes, device, repetitions, ...), JSON-able.
    """

    metric: str
    unit: str
    costs: torch.Tensor
    rows: dict[str, int]
    space: str
    size: NetworkSize
    info: dict = field(default_factory=dict)

    def cost(self, space: SearchSpace, genotype: str) -> float:
        """The measured cost of ``genotype``'s standalone network."""
        return float(self.costs[genotype_index(space, genotype)])

    def expected(self, p: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``sum_a costs[a] * prod_r p_r[a_r]`` for per-row distributions ``p = {table: [..., rows, K]}``: ``[...]``,
        in ``p``'s dtype and device, differentiable in ``p``. One-hot rows give that genotype's cost exactly."""
        per_row = row_distributions(p, self.rows)
        operands: list = [self.costs.to(device=per_row[0].device, dtype=per_row[0].dtype), list(range(len(per_row)))]
        for axis, row in enumerate(per_row):
            operands += [row, [Ellipsis, axis]]
        return torch.einsum(*operands, [Ellipsis])

    def extremes(self, space: SearchSpace) -> tuple[str, str]:
        """The cheapest and the costliest genotype (the first of equals in table order)."""
        return self._genotype(space, int(self.costs.argmin())), self._genotype(space, int(self.costs.argmax()))

    def _genotype(self, space: SearchSpace, flat: int) -> str:
        return genotype_at(space, [int(k) for k in torch.unravel_index(torch.tensor(flat), self.costs.shape)])

    def scaled(self, factor: float, unit: str | None = None) -> JointCostTable:
        """The same table in another unit, every cost times ``factor``."""
        return replace(self, unit=unit or f"{self.unit} x {factor:g}", costs=self.costs * factor, info=dict(self.info))

    def to(self, device: torch.device | str, dtype: torch.dtype) -> JointCostTable:
        """The table with its costs on ``device`` in ``dtype`` (for a model's weights)."""
        return replace(self, costs=self.costs.to(device=device, dtype=dtype))

    def to_json(self) -> dict:
        """A JSON-able dict; :meth:`from_json` reads it back."""
        return {"kind": "joint", "metric": self.metric, "unit": self.unit, "costs": self.costs.tolist(),
                "rows": self.rows, "space": self.space, "size": dataclasses.asdict(self.size),
                "info": self.info}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict) -> JointCostTable:
        return cls(data["metric"], data["unit"], torch.tensor(data["costs"], dtype=torch.float64), dict(data["rows"]),
                   data["space"], NetworkSize(**data["size"]), dict(data.get("info", {})))  # fmt: skip


def joint_table(
    space: SearchSpace,
    size: NetworkSize,
    metric: str,
    unit: str,
    network_cost: Callable[[nn.Module], float],
    signature: Callable[[nn.Module], tuple[float, ...]],
    *,
    exact: bool = True,
    device: torch.device | str = "cpu",
    info: dict | None = None,
) -> JointCostTable | GroupedCostTable:
    """The cost of ``space``'s standalone networks at ``size`` (built on ``device``, in eval mode) by
    ``network_cost``: a :class:`JointCostTable` of every genotype where the space enumerates them
    (``space.genotypes()``), else a :class:`~pyronas.costs.grouped.GroupedCostTable` of its groups of interacting
    decisions (``signature``, ``exact``: see :func:`~pyronas.costs.grouped.grouped_table`)."""
    try:
        genotypes = list(space.genotypes())
    except NotImplementedError:
        limit = getattr(space, "max_genotypes", 4096)
        return grouped_table(space, size, metric, unit, network_cost, signature, exact=exact,
                             max_combinations=limit, device=device, info=info)  # fmt: skip
    rows = {cell: rows for cell, (rows, _) in space.arch_shape.items()}
    costs = torch.full(row_sizes(space), torch.nan, dtype=torch.float64)
    for genotype in genotypes:
        costs[genotype_index(space, genotype)] = float(network_cost(build(space, genotype, size, device)))
    if costs.isnan().any():
        raise ValueError(f"{space.name}'s genotypes() leave some combinations of candidates out; cannot cost them")
    return JointCostTable(metric, unit, costs, rows, space.name, size, dict(info or {}, genotypes=len(genotypes)))


CostTables = CostTable | JointCostTable | GroupedCostTable  # a table of any kind: all have the same methods
