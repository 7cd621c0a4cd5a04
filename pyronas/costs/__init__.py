"""Costs of candidate ops (parameters, FLOPs, latency) and cost-aware priors for any search space.

A :class:`CostTable` holds the fixed part of a standalone network and one cost per candidate op,
``{cell_type: [E, K]}``; the network of a genotype costs ``fixed + sum(one_hot * table)`` (exact for
parameters and FLOPs), and mixing weights give the differentiable :func:`expected_cost`.

Tables are measured on standalone networks through the :class:`~pyronas.spaces.SearchSpace` interface
(``derive``, ``one_hot``, ``network`` and the ``chosen_ops`` hook), so any space that provides the hook
gets them. A space without the hook whose decisions interact (a network of your own,
:class:`~pyronas.spaces.ModuleSpace`, where a width choice changes what the following layers cost) gets a
:class:`JointCostTable` instead: every genotype's network measured (``genotypes``, up to
``ModuleSpace.max_genotypes``), the expected cost an exact contraction; a larger one a :class:`GroupedCostTable`,
one joint part per group of interacting decisions (:mod:`pyronas.costs.grouped`). All kinds have the same methods.

A cost-aware search wraps any method's model (no method file changes)::

    from pyronas.build import build_search
    from pyronas.costs import CostPrior, best_within_budget, params_table, search_size

    parts = build_search(method="drnas", dataset="digits", channels=4, cells_per_stage=1, epochs=3)
    table = params_table(parts.space, search_size(parts)).scaled(1e-3, "thousand parameters")
    parts.model = CostPrior(parts.model, table, weight=10.0)  # or budget=..., a hinge above it
    with parts.activate():
        search = parts.runner()
        search.run()
    cell = best_within_budget(parts.space, search.op_probabilities(), table, budget=7.0)

A search does this itself with ``cost``, ``cost_weight`` and ``budget`` (``pyronas search --cost params --budget 0.5M``;
:mod:`pyronas.costs.objective`, :mod:`pyronas.costs.units`).
"""

from pyronas.costs.budget import OverBudget, best_within_budget
from pyronas.costs.decompose import NonAdditiveCost
from pyronas.costs.expected import edge_distribution, expected_cost
from pyronas.costs.grouped import GroupedCostTable
from pyronas.costs.joint import JointCostTable
from pyronas.costs.latency import latency_table, network_latency
from pyronas.costs.objective import SearchCost, search_cost
from pyronas.costs.prior import CostPrior, cost_penalty
from pyronas.costs.size import count_flops, count_params, flops_table, params_table
from pyronas.costs.table import CostTable, NetworkSize, search_size
from pyronas.costs.units import COST_METRICS, UNITS, parse_budget

__all__ = [
    "COST_METRICS",
    "UNITS",
    "CostPrior",
    "CostTable",
    "GroupedCostTable",
    "JointCostTable",
    "NetworkSize",
    "NonAdditiveCost",
    "OverBudget",
    "SearchCost",
    "best_within_budget",
    "cost_penalty",
    "count_flops",
    "count_params",
    "edge_distribution",
    "expected_cost",
    "flops_table",
    "latency_table",
    "network_latency",
    "params_table",
    "parse_budget",
    "search_cost",
    "search_size",
]
