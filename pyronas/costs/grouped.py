"""Cost tables of networks of one's own too large to measure genotype by genotype: one joint table per group of
decisions whose costs interact, the groups' costs adding up.

A network with many decisions has too many genotypes to build each (``ModuleSpace.max_genotypes``), but its
decisions rarely all interact: a :class:`~pyronas.nn.WidthChoice` changes what the layers beside it cost, a kernel
choice in another block does not. Two decisions ``i``, ``j`` interact where, from a base network (every decision at
its first candidate), changing both changes the network's parameters or FLOPs by other than the sum of changing each
alone. Interacting decisions are grouped (transitively), and the cost of a genotype is

    cost(a) = cost(base) + sum_g part_g[a_g],    part_g[a_g] = cost(base with group g set to a_g) - cost(base),

one joint part per group, measured by building every combination of the group's candidates (at most
``max_genotypes`` each). That is exact when the cost is a sum over the groups, which is checked on networks drawn at
random and measured whole: exactly for parameters and FLOPs (a :class:`~pyronas.costs.NonAdditiveCost` otherwise),
for latency the relative errors are kept in ``info["check"]``. Under independent per-row distributions the expected
cost is ``cost(base) + sum_g sum_{a_g} part_g[a_g] prod_{r in g} p_r[a_r]``, exact and differentiable, and the
cheapest and costliest genotypes are the groups' cheapest and costliest.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from pyronas.costs.candidates import build
from pyronas.costs.decompose import NonAdditiveCost
from pyronas.costs.rows import RowTable, genotype_at, genotype_index, row_distributions, row_labels, row_sizes
from pyronas.costs.table import NetworkSize
from pyronas.spaces import SearchSpace

CHECKED_NETWORKS = 32  # networks drawn at random and measured whole to check that the groups' costs add up


@dataclass(frozen=True)
class GroupedCostTable(RowTable):
    """A network's cost as its base network's plus one joint part per group of interacting decisions.

    Attributes:
        metric, unit: what is counted and its unit (as :class:`~pyronas.costs.CostTable`'s).
        base: the cost of the base network (every row at candidate 0).
        groups: the flat row indices (:mod:`pyronas.costs.rows`) of each group, ascending; every row in one group.
        parts: one float64 tensor per group, one axis per row of the group (``[K_r for r in group]``): the cost of
            the network with the group's rows at those candidates and every other row at 0, less ``base``.
        rows: ``{table: number of rows}``, in the space's order.
        space: the search space's name.
        size: the network the table was measured on.
        info: anything else worth keeping (group labels, the check, how many networks were built, device,
            repetitions, ...), JSON-able.
    """

    metric: str
    unit: str
    base: float
    groups: tuple[tuple[int, ...], ...]
    parts: tuple[torch.Tensor, ...]
    rows: dict[str, int]
    space: str
    size: NetworkSize
    info: dict = field(default_factory=dict)

    def cost_at(self, index: tuple[int, ...]) -> float:
        """The cost of the genotype choosing candidate ``index[r]`` on every flat row ``r``."""
        return self.base + sum(
            float(part[tuple(index[r] for r in group)]) for group, part in zip(self.groups, self.parts)
        )

    def cost(self, space: SearchSpace, genotype: str) -> float:
        """The cost of ``genotype``'s standalone network."""
        return self.cost_at(genotype_index(space, genotype))

    def expected(self, p: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``base + sum_g sum_a part_g[a] prod_{r in g} p_r[a_r]`` for per-row distributions ``p = {table: [..., rows,
        K]}``: ``[...]``, in ``p``'s dtype and device, differentiable in ``p``."""
        per_row = row_distributions(p, self.rows)
        first = per_row[0]
        total = torch.full(first.shape[:-1], self.base, dtype=first.dtype, device=first.device)
        for group, part in zip(self.groups, self.parts):
            operands: list = [part.to(device=first.device, dtype=first.dtype), list(range(len(group)))]
            for axis, r in enumerate(group):
                operands += [per_row[r], [Ellipsis, axis]]
            total = total + torch.einsum(*operands, [Ellipsis])
        return total

    def extremes(self, space: SearchSpace) -> tuple[str, str]:
        """The cheapest and the costliest genotype (per group, the first of equals in row order)."""
        return genotype_at(space, self._pick(torch.argmin)), genotype_at(space, self._pick(torch.argmax))

    def _pick(self, arg: Callable[[torch.Tensor], torch.Tensor]) -> list[int]:
        index = [0] * sum(self.rows.values())
        for group, part in zip(self.groups, self.parts):
            for r, k in zip(group, torch.unravel_index(arg(part), part.shape)):
                index[r] = int(k)
        return index

    def scaled(self, factor: float, unit: str | None = None) -> GroupedCostTable:
        """The same table in another unit, every cost times ``factor``."""
        return replace(self, unit=unit or f"{self.unit} x {factor:g}", base=self.base * factor,
                       parts=tuple(part * factor for part in self.parts), info=dict(self.info))  # fmt: skip

    def to(self, device: torch.device | str, dtype: torch.dtype) -> GroupedCostTable:
        """The table with its parts on ``device`` in ``dtype`` (for a model's weights)."""
        return replace(self, parts=tuple(part.to(device=device, dtype=dtype) for part in self.parts))

    def to_json(self) -> dict:
        """A JSON-able dict; :meth:`from_json` reads it back."""
        return {"kind": "grouped", "metric": self.metric, "unit": self.unit, "base": self.base,
                "groups": [list(g) for g in self.groups], "parts": [p.tolist() for p in self.parts],
                "rows": self.rows, "space": self.space, "size": dataclasses.asdict(self.size),
                "info": self.info}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict) -> GroupedCostTable:
        return cls(data["metric"], data["unit"], float(data["base"]), tuple(tuple(g) for g in data["groups"]),
                   tuple(torch.tensor(p, dtype=torch.float64) for p in data["parts"]), dict(data["rows"]),
                   data["space"], NetworkSize(**data["size"]), dict(data.get("info", {})))  # fmt: skip


Measure = Callable[[tuple[int, ...]], object]  # flat candidate index -> a measurement of that genotype's network


def interaction_groups(sizes: list[int], measure: Measure) -> list[tuple[int, ...]]:
    """Rows whose costs interact, grouped transitively; each group's rows ascending, groups by first row.

    Rows ``i`` and ``j`` interact where ``measure`` (a number or a tuple of numbers, e.g. ``(params, flops)``) of
    the base network (every row at candidate 0) with both rows changed differs from the base's plus the changes of
    each alone, for some pair of their candidates. Pairs already in one group are not measured.
    """
    base_index = (0,) * len(sizes)

    def at(changes: dict[int, int]) -> tuple[int, ...]:
        return tuple(changes.get(r, 0) for r in range(len(sizes)))

    base = _vector(measure(base_index))
    single = {(r, k): _vector(measure(at({r: k}))) - base for r, n in enumerate(sizes) for k in range(1, n)}
    parent = list(range(len(sizes)))

    def root(r: int) -> int:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for i, j in itertools.combinations(range(len(sizes)), 2):
        if root(i) == root(j):
            continue
        for x, y in itertools.product(range(1, sizes[i]), range(1, sizes[j])):
            both = _vector(measure(at({i: x, j: y}))) - base
            if not torch.equal(both, single[i, x] + single[j, y]):
                parent[root(j)] = root(i)
                break
    groups: dict[int, list[int]] = {}
    for r in range(len(sizes)):
        groups.setdefault(root(r), []).append(r)
    return sorted((tuple(g) for g in groups.values()), key=lambda g: g[0])


def _vector(measurement: object) -> torch.Tensor:
    return torch.tensor(measurement if isinstance(measurement, tuple | list) else [measurement], dtype=torch.float64)


def grouped_table(
    space: SearchSpace,
    size: NetworkSize,
    metric: str,
    unit: str,
    network_cost: Callable[[nn.Module], float],
    signature: Callable[[nn.Module], tuple[float, ...]],
    *,
    exact: bool = True,
    max_combinations: int = 4096,
    device: torch.device | str = "cpu",
    info: dict | None = None,
    seed: int = 0,
) -> GroupedCostTable:
    """The :class:`GroupedCostTable` of ``metric`` for ``space``'s standalone networks at ``size``.

    Args:
        network_cost: the metric of one standalone network (built on ``device``, in eval mode).
        signature: what decides interactions, e.g. ``(parameters, FLOPs)`` of a network: exact counts, so that a
            timed metric is grouped by the networks' structure and not by its noise.
        exact: the metric is exact (parameters, FLOPs): a :class:`~pyronas.costs.NonAdditiveCost` where a network
            drawn at random costs other than the groups' sum; otherwise the relative errors go to ``info["check"]``.
        max_combinations: the most combinations of candidates one group may have (a one-line ``ValueError`` above).
    """
    sizes = row_sizes(space)
    built: dict[tuple[int, ...], nn.Module] = {}
    builds = 0

    def network(index: tuple[int, ...]) -> nn.Module:
        nonlocal builds
        if index not in built:
            built.clear()  # one network at a time: a large network of one's own need not fit twice
            built[index] = build(space, genotype_at(space, index), size, device)
            builds += 1
        return built[index]

    signatures: dict[tuple[int, ...], tuple[float, ...]] = {}
    measured: dict[tuple[int, ...], float] = {}  # an exact metric is measured on every network built, and reused

    def structure(index: tuple[int, ...]) -> tuple[float, ...]:
        if index not in signatures:
            signatures[index] = tuple(signature(network(index)))
            if exact:
                measured[index] = float(network_cost(network(index)))
        return signatures[index]

    def cost_of(index: tuple[int, ...]) -> float:
        if index not in measured:
            measured[index] = float(network_cost(network(index)))
        return measured[index]

    groups = interaction_groups(sizes, structure)
    labels = row_labels(space)
    for group in groups:
        combinations = math.prod(sizes[r] for r in group)
        if combinations > max_combinations:
            raise ValueError(
                f"cannot cost {space.name}'s networks: decisions {', '.join(labels[r] for r in group)} interact and "
                f"together have {combinations:,} combinations, more than the {max_combinations:,} measured per group "
                "(ModuleSpace.max_genotypes)"
            )
    base_index = (0,) * len(sizes)
    base = cost_of(base_index)
    parts = []
    for group in groups:
        part = torch.zeros([sizes[r] for r in group], dtype=torch.float64)
        for combination in itertools.product(*(range(sizes[r]) for r in group)):
            index = list(base_index)
            for r, k in zip(group, combination):
                index[r] = k
            part[combination] = cost_of(tuple(index)) - base if any(combination) else 0.0
        parts.append(part)
    rows = {cell: rows for cell, (rows, _) in space.arch_shape.items()}
    table = GroupedCostTable(metric, unit, base, tuple(groups), tuple(parts), rows, space.name, size,
                             dict(info or {}, groups=[[labels[r] for r in g] for g in groups]))  # fmt: skip
    check = _check(table, space, sizes, cost_of, exact, seed)
    return replace(table, info=dict(table.info, check=check, networks_built=builds))


def _check(table, space, sizes, cost_of, exact: bool, seed: int) -> dict:
    """Networks drawn at random, measured whole against the table: exact, or relative errors summarised."""
    generator = torch.Generator().manual_seed(seed)
    errors = []
    for _ in range(CHECKED_NETWORKS):
        index = tuple(int(torch.randint(n, (), generator=generator)) for n in sizes)
        whole, summed = cost_of(index), table.cost_at(index)
        if exact and whole != summed:
            raise NonAdditiveCost(
                f"cannot cost {space.name}'s networks by groups of decisions: {genotype_at(space, index)} measures "
                f"{whole:g} {table.unit} of {table.metric}, the groups add up to {summed:g}"
            )
        errors.append(abs(whole - summed) / abs(whole) if whole else abs(summed))
    return {"networks": CHECKED_NETWORKS, "median_relative_error": statistics.median(errors),
            "max_relative_error": max(errors)}  # fmt: skip
