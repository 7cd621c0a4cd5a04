"""BayesNAS guide: mean-field Normal op and edge gates; relevance, derivation scores and compression.

``q(s_op[cell]) = N(locs.<cell>_op, scales.<cell>_op^2)`` over ``[E, K]`` and ``q(s_edge[cell]) =
N(locs.<cell>_edge, scales.<cell>_edge^2)`` over ``[E]``, sampled pathwise.

Relevance of op ``k`` on edge ``e``: the magnitude of its posterior-mean mixing weight, relative to the largest
of its cell type, ``r[e, k] = |E_q[s_op[e, k] s_edge[e]]| / max |E_q[s_op s_edge]|`` in ``[0, 1]`` (mean field:
``E_q[s_op s_edge] = loc_op * loc_edge``; ``none`` columns are 0: supernets never run ``none``, so its gate only
sees its prior). An ARD-pruned gate has ``loc -> 0``, so a cut edge has ``r ~ 0`` on all its ops. Ops with
``r < threshold`` are dropped (:meth:`BayesNASGuide.compress`); an edge survives while one op does.

Derivation (:meth:`BayesNASGuide.op_probabilities`) follows the two levels of the hierarchy [1]: an edge is cut only
when its own gate's relevance, ``|E_q[s_edge[e]]| / max_e |E_q[s_edge]|``, falls below ``threshold``; on an edge that
survives, its ops compete among themselves by their op gates' posterior means, ``|E_q[s_op[e, k]]|`` normalised over
the edge. Why not the product relevance ``r`` above: in [1] the edge gate is the parent that decides whether an edge
exists and the op gates decide which ops it keeps; thresholding the product against the largest weight anywhere
in the cell compares op gates across edges and cuts every edge whose ops are merely weaker than the strongest
edge's, which on NB201 (where ``none`` is a candidate) turned most edges into ``none`` after the single epoch.
So each row is the op share of a surviving edge (``none`` 0), or all mass on ``none`` for a cut edge; compression
(:meth:`BayesNASGuide.compress`) still prunes by ``r``, the magnitude of each op's mixing weight in the network.

References:
    [1] H. Zhou, M. Yang, J. Wang, W. Pan. BayesNAS: A Bayesian Approach for Neural Architecture Search. ICML 2019.
    [2] C. Louizos, K. Ullrich, M. Welling. Bayesian Compression for Deep Learning. NeurIPS 2017.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroModule, PyroParam

from pyronas.compress import Compression, active_ops, prune
from pyronas.infer.primitives import kl_weight
from pyronas.spaces import SearchSpace


class BayesNASGuide(PyroModule):
    """Mean-field Normal gates, locations ``init_loc`` (all gates open but ``none``'s, at 0), scales ``init_scale``.

    Args:
        space: the search space.
        init_loc, init_scale: initial posterior mean and standard deviation of every gate.
        kl_weight: weight of the gates' KL terms (as in the model).
        threshold: default relevance under which ops are dropped, in ``[0, 1)``.
    """

    def __init__(
        self,
        space: SearchSpace,
        init_loc: float = 1.0,
        init_scale: float = 0.1,
        kl_weight: float = 1e-2,
        threshold: float = 0.1,
    ):
        super().__init__(name="arch")
        if init_scale <= 0:
            raise ValueError(f"init_scale must be > 0, got {init_scale}")
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        self.space = space
        self.kl_weight = kl_weight
        self.threshold = threshold
        self.locs = PyroModule()
        self.scales = PyroModule()
        for cell, (edges, ops) in space.arch_shape.items():
            op_locs = torch.full((edges, ops), init_loc) * active_ops(space, cell)  # ``none`` never used: start shut
            setattr(self.locs, f"{cell}_op", PyroParam(op_locs))
            setattr(self.locs, f"{cell}_edge", PyroParam(torch.full((edges,), init_loc)))
            for part, shape in (("op", (edges, ops)), ("edge", (edges,))):
                setattr(self.scales, f"{cell}_{part}", PyroParam(torch.full(shape, init_scale), constraints.positive))

    def _q(self, cell: str, part: str) -> dist.Normal:
        return dist.Normal(getattr(self.locs, f"{cell}_{part}"), getattr(self.scales, f"{cell}_{part}"))

    def forward(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> None:
        for cell in self.space.cell_types:
            with kl_weight(self.kl_weight):
                pyro.sample(f"arch.{cell}.edge_gates", self._q(cell, "edge").to_event(1))
                pyro.sample(f"arch.{cell}.op_gates", self._q(cell, "op").to_event(2))

    @torch.no_grad()
    def mean_weights(self) -> dict[str, torch.Tensor]:
        """Posterior-mean mixing weights ``{cell: E_q[s_op * s_edge[:, None]]}``, each ``[E, K]``."""
        return {
            cell: getattr(self.locs, f"{cell}_op") * getattr(self.locs, f"{cell}_edge").unsqueeze(-1)
            for cell in self.space.cell_types
        }

    @torch.no_grad()
    def relevance(self) -> dict[str, torch.Tensor]:
        """Relevance ``{cell: [E, K]}`` in ``[0, 1]``: ``|posterior-mean weight|`` over its cell type's largest."""
        out = {}
        for cell, weights in self.mean_weights().items():
            magnitude = weights.abs().cpu() * active_ops(self.space, cell)
            largest = magnitude.max()
            out[cell] = magnitude / largest if largest > 0 else magnitude
        return out

    @torch.no_grad()
    def edge_relevance(self) -> dict[str, torch.Tensor]:
        """Edge relevance ``{cell: [E]}`` in ``[0, 1]``: ``|posterior-mean edge gate|`` over its cell type's largest."""
        out = {}
        for cell in self.space.cell_types:
            magnitude = getattr(self.locs, f"{cell}_edge").detach().abs().cpu()
            largest = magnitude.max()
            out[cell] = magnitude / largest if largest > 0 else magnitude
        return out

    @torch.no_grad()
    def op_probabilities(self) -> dict[str, torch.Tensor]:
        """Derivation scores ``{cell: [E, K]}``, rows summing to 1: surviving edges' op shares, cut edges' ``none``."""
        out = {}
        for cell, edge in self.edge_relevance().items():
            active = active_ops(self.space, cell)  # [E, K]
            none = (~active).float() / (~active).sum(-1, keepdim=True).clamp_min(1)
            magnitude = getattr(self.locs, f"{cell}_op").detach().abs().cpu() * active
            total = magnitude.sum(-1, keepdim=True)
            share = torch.where(total > 0, magnitude / total.clamp_min(1e-30), active / active.sum(-1, keepdim=True))
            cut = (edge < self.threshold) & (~active).any(-1)  # an edge without ``none`` is never cut
            out[cell] = torch.where(cut.unsqueeze(-1), none, share)
        return out

    def compress(self, threshold: float | None = None) -> Compression:
        """Drop ops with relevance under ``threshold`` (default: the guide's); see :func:`pyronas.compress.prune`."""
        threshold = self.threshold if threshold is None else threshold
        return prune(self.space, self.relevance(), self.mean_weights(), threshold)

    def summary(self) -> dict:
        """JSON-able: the compression at the default threshold (survivors per cell type, compressed cell)."""
        return {"compression": self.compress().to_json()}
