"""Expected cost under mixing weights: differentiable, usable inside a Pyro model."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from pyronas.costs.table import CostTable


def edge_distribution(weights: torch.Tensor) -> torch.Tensor:
    """Per-edge op distribution ``p = |w| / sum_k |w|`` of mixing weights ``[..., E, K]`` (same shape).

    Weights that already are probabilities (softmax, Dirichlet samples) are returned unchanged (up to
    rounding); signed or unnormalised ones (BayesNAS gates, PGNAS keep-gates) become the distribution
    that single-path sampling draws from (:mod:`pyronas.nn.single_path`). An edge whose weights are all 0
    gets ``p = 0``: it computes nothing, so it costs nothing.
    """
    magnitude = weights.abs()
    return magnitude / magnitude.sum(-1, keepdim=True).clamp_min(torch.finfo(magnitude.dtype).tiny)


def expected_cost(table: CostTable, weights: Mapping[str, torch.Tensor], *, normalize: bool = True) -> torch.Tensor:
    """``fixed + sum_cells sum(p * table)``, with ``p`` the :func:`edge_distribution` of ``weights`` per cell.

    Args:
        table: per-candidate costs ``{cell_type: [E, K]}`` and the fixed part.
        weights: mixing weights ``{cell_type: [..., E, K]}`` (leading batch dimensions allowed).
        normalize: turn weights into per-edge distributions first; ``False`` uses them as given.

    Returns the expected cost ``[...]`` in the table's unit, in the weights' dtype and device. In a space whose
    genotypes keep only some edges (DARTS keeps 2 inputs per node), every edge counts here with its
    probabilities, so the expectation is over the supernet's edges, not over the derived network's.
    """
    total = None
    for cell, costs in table.table.items():
        w = weights[cell]
        p = edge_distribution(w) if normalize else w
        term = (p * costs.to(device=p.device, dtype=p.dtype)).sum((-2, -1))
        total = term if total is None else total + term
    return total + table.fixed
