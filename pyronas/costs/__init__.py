"""Costs of candidate ops (parameters, FLOPs, latency) and cost-aware priors for any search space.

A :class:`CostTable` holds the fixed part of a standalone network and one cost per candidate op,
``{cell_type: [E, K]}``; the network of a genotype costs ``fixed + sum(one_hot * table)`` (exact for
parameters and FLOPs), and mixing weights give the differentiable :func:`expected_cost`.
"""

from pyronas.costs.budget import OverBudget, best_within_budget
from pyronas.costs.decompose import NonAdditiveCost
from pyronas.costs.expected import edge_distribution, expected_cost
from pyronas.costs.latency import latency_table, network_latency
from pyronas.costs.prior import CostPrior, cost_penalty
from pyronas.costs.size import count_flops, count_params, flops_table, params_table
from pyronas.costs.table import CostTable, NetworkSize, search_size

__all__ = [
    "CostPrior",
    "CostTable",
    "NetworkSize",
    "NonAdditiveCost",
    "OverBudget",
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
    "search_size",
]
