"""A search's cost objective: the table at the search's size, the prior on the model, the budgeted derivation.

:func:`search_cost` measures the table of a metric (``params``, ``flops``, ``latency``) for the standalone
networks a search derives and reports it in :data:`~pyronas.costs.units.UNITS` (millions of parameters,
MFLOPs, ms). The prior is tempered in units of the *span*, the cost of the costliest architecture less
that of the cheapest (``table.extremes``), so ``weight = 1`` makes the costliest
architecture ``e`` times less probable a priori than the cheapest at any network size; with a budget,
only the expected cost above it is penalised. The derived architecture of a budgeted search is
:func:`~pyronas.costs.budget.best_within_budget` of the op probabilities (the cheapest architecture where
its greedy search stops above the budget).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from pyronas.costs.budget import OverBudget, best_within_budget
from pyronas.costs.candidates import build
from pyronas.costs.expected import expected_cost
from pyronas.costs.joint import CostTables
from pyronas.costs.latency import latency_table, network_latency
from pyronas.costs.prior import CostPrior
from pyronas.costs.size import count_flops, count_params, flops_table, params_table
from pyronas.costs.table import NetworkSize
from pyronas.costs.units import UNITS
from pyronas.spaces import SearchSpace


@dataclass
class SearchCost:
    """The cost setting of one search, its table in reported units and the extremes of the space.

    Attributes:
        space: the search space.
        table: per-candidate or per-genotype costs in the metric's reported unit (``table.metric``, ``table.unit``).
        weight: lambda of the prior, per span (see the module docstring).
        budget: the most the derived architecture may cost, in ``table.unit``; ``None`` for none.
        cheapest, costliest: the cheapest and costliest architectures (``table.extremes``: for a per-candidate
            table those ``space.derive`` forms from the negated and plain costs, for a per-genotype one the exact
            extremes).
        device: where latency is measured.
    """

    space: SearchSpace
    table: CostTables
    weight: float
    budget: float | None
    cheapest: str
    costliest: str
    device: torch.device

    @property
    def span(self) -> float:
        """Cost of the costliest architecture less the cheapest's, in ``table.unit``."""
        return self.table.cost(self.space, self.costliest) - self.table.cost(self.space, self.cheapest)

    def prior(self, model: nn.Module) -> CostPrior:
        """``model`` with the cost prior: ``weight * E[cost] / span``, or the hinge above the budget."""
        scale = 1.0 / self.span
        table = self.table.scaled(scale, f"span of {self.span:g} {self.table.unit}")
        return CostPrior(model, table, self.weight, budget=None if self.budget is None else self.budget * scale)

    def derive(self, probabilities: Mapping[str, torch.Tensor]) -> str:
        """The architecture of op probabilities: the argmax, or with a budget the most probable within it."""
        if self.budget is None:
            return self.space.derive(probabilities)
        try:
            return best_within_budget(self.space, probabilities, self.table, self.budget)
        except OverBudget:  # a greedy search may stop above the budget; the cheapest is within it
            return self.cheapest

    def epoch_fields(self, probabilities: Mapping[str, torch.Tensor]) -> dict:
        """Fields of an epoch record: the expected cost under the op probabilities, and under a budget the
        argmax architecture where it differs from the logged (budgeted) one."""
        out = {"expected_cost": float(expected_cost(self.table, probabilities))}
        if self.budget is not None:
            argmax = self.space.derive(probabilities)
            if argmax != self.derive(probabilities):
                out["argmax_genotype"] = argmax
        return out

    def settings(self) -> dict:
        """The cost settings as ``result.json`` records them (with a table by groups of decisions, the groups and its
        check on networks measured whole)."""
        t, space = self.table, self.space
        return {"metric": t.metric, "unit": t.unit, "weight": self.weight, "budget": self.budget, "span": self.span,
                "cheapest": t.cost(space, self.cheapest), "costliest": t.cost(space, self.costliest),
                "size": dataclasses.asdict(t.size),
                **{key: t.info[key] for key in ("groups", "check") if key in t.info}}  # fmt: skip

    def measure(self, genotype: str) -> dict:
        """Costs of ``genotype``'s standalone network: ``params``, ``flops`` (per image) counted on the network,
        ``latency_ms`` (batch 1, on the search device) when the metric is latency, and the table's ``predicted``."""
        size = self.table.size
        net = build(self.space, genotype, size)
        out = {"params": count_params(net), "flops": count_flops(net, size.images())}
        if self.table.metric == "latency":
            out["latency_ms"] = network_latency(net.to(self.device), size.images(1, self.device), self.device)
        return {**out, "predicted": self.table.cost(self.space, genotype)}


TABLES = {"params": params_table, "flops": flops_table}


def search_cost(
    metric: str, weight: float, budget: float | None, space: SearchSpace, size: NetworkSize, device: torch.device
) -> SearchCost:
    """The :class:`SearchCost` of ``metric`` for ``space``'s networks at ``size`` (``budget`` in base units).

    Latency is measured on ``device`` at batch 1 and cached (:mod:`pyronas.costs.cache`). Raises a one-line
    :class:`OverBudget` for a budget below the cheapest architecture, ``ValueError`` if every architecture
    costs the same.
    """
    device = torch.device(device)
    if metric == "latency":
        table = latency_table(space, size, device=device)
    else:
        table = TABLES[metric](space, size)
    factor, unit = UNITS[metric]
    table = table.scaled(factor, unit)
    cheapest, costliest = table.extremes(space)
    cost = SearchCost(space, table, weight, None if budget is None else budget * factor, cheapest, costliest, device)
    if cost.span <= 0:
        raise ValueError(f"every {space.name} architecture has the same {metric}; drop --cost")
    low = table.cost(space, cheapest)
    if cost.budget is not None and cost.budget < low:
        lower = " or lower --channels / --cells-per-stage" if space.sized else ""
        raise OverBudget(
            f"budget = {cost.budget:g} {unit} is below the cheapest {space.name} architecture at this size "
            f"({low:g} {unit}); raise --budget{lower}"
        )
    return cost
