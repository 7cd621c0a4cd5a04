"""Split a network cost into a fixed part and one cost per candidate op, measured on standalone networks.

For every covering genotype (:func:`~pyronas.costs.candidates.covering_genotypes`) the standalone network
is built; each chosen op is costed on its own (``op_cost``) and the whole network once
(``network_cost``); the fixed part is the network's cost less its chosen ops'. Per-candidate costs are
summed over the cells of a type. For an additive metric (parameters, FLOPs) every network must give
the same fixed part, which is checked; for latency the median residual is taken.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch
from torch import nn

from pyronas.costs.candidates import ChosenOp, build, chosen_ops, covering_genotypes
from pyronas.costs.table import CostTable, NetworkSize
from pyronas.spaces import SearchSpace


class NonAdditiveCost(ValueError):
    """A metric whose network cost is not its fixed part plus the costs of the chosen candidates."""


def decompose(
    space: SearchSpace,
    size: NetworkSize,
    metric: str,
    unit: str,
    op_cost: Callable[[ChosenOp], float],
    network_cost: Callable[[nn.Module], float],
    *,
    exact: bool = True,
    device: torch.device | str = "cpu",
    batch_size: int = 1,
    info: dict | None = None,
) -> CostTable:
    """The :class:`CostTable` of ``metric`` for ``space``'s standalone networks at ``size``.

    Args:
        op_cost: cost of one chosen op on its own (it knows its module and input shape).
        network_cost: cost of a whole standalone network.
        exact: the metric is additive: raise :class:`NonAdditiveCost` when the fixed parts of two networks, or
            the costs of one candidate in two networks, differ; otherwise average them (medians of the fixed part).
        batch_size: images per forward pass when recording input shapes.
    """
    genotypes, never = covering_genotypes(space)
    sums: dict[tuple[str, int, int], list[float]] = {}
    fixed: list[float] = []
    for genotype in genotypes:
        net = build(space, genotype, size, device)
        ops = chosen_ops(space, net, size.images(batch_size, device))
        per_candidate: dict[tuple[str, int, int], float] = {}
        for entry in ops:
            key = (entry.cell, entry.edge, entry.op)
            per_candidate[key] = per_candidate.get(key, 0.0) + op_cost(entry)
        for key, value in per_candidate.items():
            sums.setdefault(key, []).append(value)
        fixed.append(network_cost(net) - sum(per_candidate.values()))
    table = {cell: torch.zeros(shape, dtype=torch.float64) for cell, shape in space.arch_shape.items()}
    for (cell, edge, op), values in sums.items():
        if exact and max(values) != min(values):
            raise NonAdditiveCost(f"{metric} of {cell} edge {edge} op {op} differs between networks: {values}")
        table[cell][edge, op] = statistics.fmean(values)
    if exact and max(fixed) != min(fixed):
        raise NonAdditiveCost(f"the fixed part of {metric} differs between {space.name} networks: {fixed}")
    never_derived = {cell: [space.ops[k] for k in range(m.shape[1]) if m[:, k].any()] for cell, m in never.items()}
    info = dict(info or {}, genotypes=len(genotypes), never_derived=never_derived)  # ops whose entries stay 0
    return CostTable(metric, unit, statistics.median(fixed), table, space.name, size, info)
