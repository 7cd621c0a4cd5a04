"""Expected cost under mixing weights: differentiable, usable inside a Pyro model."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from pyronas.costs.joint import CostTables


def edge_distribution(weights: torch.Tensor) -> torch.Tensor:
    """Per-edge op distribution ``p = |w| / sum_k |w|`` of mixing weights ``[..., E, K]`` (same shape).

    Weights that already are probabilities (softmax, Dirichlet samples) are returned unchanged (up to
    rounding); signed or unnormalised ones (BayesNAS gates, PGNAS keep-gates) become the distribution
    that single-path sampling draws from (:mod:`pyronas.nn.single_path`). An edge whose weights are all 0
    gets ``p = 0``: it computes nothing, so it costs nothing.
    """
    magnitude = weights.abs()
    return magnitude / magnitude.sum(-1, keepdim=True).clamp_min(torch.finfo(magnitude.dtype).tiny)


def expected_cost(table: CostTables, weights: Mapping[str, torch.Tensor], *, normalize: bool = True) -> torch.Tensor:
    """The cost expected when every row's candidate is drawn from the :func:`edge_distribution` of ``weights``.

    Args:
        table: a :class:`~pyronas.costs.CostTable` (``fixed + sum_cells sum(p * table)``) or a
            :class:`~pyronas.costs.JointCostTable` (``sum_a cost[a] * prod_rows p_row[a_row]``, exact whatever the
            interactions between decisions).
        weights: mixing weights ``{cell_type: [..., E, K]}`` (leading batch dimensions allowed).
        normalize: turn weights into per-edge distributions first; ``False`` uses them as given.

    Returns the expected cost ``[...]`` in the table's unit, in the weights' dtype and device. In a space whose
    genotypes keep only some edges (DARTS keeps 2 inputs per node), every edge counts here with its
    probabilities, so the expectation is over the supernet's edges, not over the derived network's.
    """
    p = {cell: edge_distribution(weights[cell]) if normalize else weights[cell] for cell in table.cell_types}
    return table.expected(p)
