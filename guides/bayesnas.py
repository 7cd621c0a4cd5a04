"""BayesNAS guide: mean-field Normal op and edge gates; relevance, derivation scores and compression.

``q(s_op[cell]) = N(locs.<cell>_op, scales.<cell>_op^2)`` over ``[E, K]`` and ``q(s_edge[cell]) =
N(locs.<cell>_edge, scales.<cell>_edge^2)`` over ``[E]``, sampled pathwise.

Relevance of op ``k`` on edge ``e``: the magnitude of its posterior-mean mixing weight, relative to the largest
of its cell type, ``r[e, k] = |E_q[s_op[e, k] s_edge[e]]| / max |E_q[s_op s_edge]|`` in ``[0, 1]`` (mean field:
``E_q[s_op s_edge] = loc_op * loc_edge``; ``none`` columns are 0: supernets never run ``none``, so its gate only
sees its prior). An ARD-pruned gate has ``loc -> 0``, so a cut edge has ``r ~ 0`` on all its ops. Ops with
``r < threshold`` are dropped (:meth:`BayesNASGuide.compress`); an edge survives while one op does.

Derivation scores (:meth:`BayesNASGuide.op_probabilities`): each row is ``r[e]`` with the ``none`` entry set to
``threshold``, normalised to sum to 1. So ``none`` wins an edge exactly when all its ops fall under the threshold:
the argmax cell of NB201 is the cell compressed at the default threshold, best surviving op per edge.

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
            op_locs = torch.full((edges, ops), init_loc) * active_ops(space)  # ``none`` is never used: start it shut
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
            magnitude = weights.abs().cpu() * active_ops(self.space)
            largest = magnitude.max()
            out[cell] = magnitude / largest if largest > 0 else magnitude
        return out

    @torch.no_grad()
    def op_probabilities(self) -> dict[str, torch.Tensor]:
        """Scores ``{cell: [E, K]}``, rows summing to 1: relevance, ``none`` scored ``threshold``, normalised."""
        inactive = ~active_ops(self.space)
        out = {}
        for cell, r in self.relevance().items():
            scores = r.clone()
            scores[:, inactive] = self.threshold / max(1, int(inactive.sum()))
            total = scores.sum(-1, keepdim=True)
            out[cell] = torch.where(total > 0, scores / total.clamp_min(1e-30), 1.0 / scores.shape[-1])
        return out

    def compress(self, threshold: float | None = None) -> Compression:
        """Drop ops with relevance under ``threshold`` (default: the guide's); see :func:`pyronas.compress.prune`."""
        threshold = self.threshold if threshold is None else threshold
        return prune(self.space, self.relevance(), self.mean_weights(), threshold)

    def summary(self) -> dict:
        """JSON-able: the compression at the default threshold (survivors per cell type, compressed cell)."""
        return {"compression": self.compress().to_json()}
