"""Compression by relevance: drop the ops, and the edges, whose relevance falls under a threshold.

Method-agnostic: a method supplies a relevance per candidate op ``{cell_type: [E, K]}`` (higher = more
relevant, on the scale its threshold is meant for) and the mixing weights to compress; :func:`prune` keeps
the ops whose relevance is at least ``threshold``. An edge survives while one of its ops does; the space's
``none`` op never survives (it computes nothing). The pruned mixing weights (zeros for dropped ops) turn the
supernet into the compressed network; the space derives the compressed cell from the surviving relevances,
a dropped edge scoring only on ``none``. Where a space's cells need more edges than survive (DARTS: two inputs
per node), its ``derive`` fills them with dropped edges; the masks and weights are the compressed network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from pyronas.spaces import SearchSpace

NONE = "none"  # the op that stands for a missing edge, in every space that has one


def active_ops(space: SearchSpace, table: str) -> torch.Tensor:
    """``[E, K]`` bool: which candidates of each row of ``table`` compute something (all but ``none``).

    A space whose candidates include no ``none`` has every candidate active (nothing stands for a missing row).
    """
    return torch.tensor([[name != NONE for name in names] for names in space.candidate_names(table)], dtype=torch.bool)


@dataclass
class Compression:
    """A network compressed at one threshold.

    Attributes:
        threshold: the relevance below which ops were dropped.
        masks: surviving ops ``{cell_type: bool [E, K]}`` (``none`` always False).
        weights: the mixing weights with dropped ops set to zero ``{cell_type: [E, K]}``.
        genotype: the compressed cell, derived by the space.
        active: the ops that count (all but ``none``) ``{cell_type: bool [E, K]}``.
    """

    threshold: float
    masks: dict[str, torch.Tensor]
    weights: dict[str, torch.Tensor]
    genotype: str
    active: dict[str, torch.Tensor]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per cell type: surviving ``ops`` and ``edges``, and their totals ``ops_total``, ``edges_total``."""
        return {
            cell: {
                "ops": int(mask.sum()),
                "ops_total": int(self.active[cell].sum()),
                "edges": int(mask.any(-1).sum()),
                "edges_total": int(mask.shape[0]),
            }
            for cell, mask in self.masks.items()
        }

    def to_json(self) -> dict:
        """JSON-able summary: ``threshold``, ``genotype`` and the ``survivors`` of :meth:`counts`."""
        return {"threshold": self.threshold, "genotype": self.genotype, "survivors": self.counts()}


def prune(
    space: SearchSpace,
    relevance: Mapping[str, torch.Tensor],
    weights: Mapping[str, torch.Tensor],
    threshold: float,
) -> Compression:
    """Keep the ops with ``relevance >= threshold``; zero the others' mixing weights.

    Args:
        space: the search space (its ops, cell types and ``derive``).
        relevance, weights: ``{cell_type: [E, K]}`` for every cell type of the space.
        threshold: relevance below which an op is dropped (``>= 0``).
    """
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    for name, table in (("relevance", relevance), ("weights", weights)):
        for cell, shape in space.arch_shape.items():
            if cell not in table or tuple(table[cell].shape) != shape:
                got = tuple(table[cell].shape) if cell in table else "nothing"
                raise ValueError(f"{name} for cell type {cell!r} must have shape {shape}, got {got}")
    active = {cell: active_ops(space, cell) for cell in space.cell_types}
    masks, pruned, scores = {}, {}, {}
    for cell in space.cell_types:
        r = relevance[cell].detach().cpu()
        masks[cell] = (r >= threshold) & active[cell]
        pruned[cell] = weights[cell].detach() * masks[cell].to(weights[cell].device)
        dropped = (~masks[cell].any(-1, keepdim=True)).float()  # a dropped row scores only on its ``none``
        scores[cell] = torch.where(masks[cell], r, torch.zeros(()))
        scores[cell] = torch.where(active[cell], scores[cell], dropped.expand_as(scores[cell]))
    return Compression(float(threshold), masks, pruned, space.derive(scores), active)
