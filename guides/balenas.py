"""BaLeNAS guide: a mean-field Normal on the per-edge op logits, ``q(alpha) = N(loc, scale^2)``.

Parameters are named ``arch.locs.<cell>`` and ``arch.scales.<cell>`` (``<cell>`` a cell type), the
pairing :func:`pyronas.optim.pair_by_name` expects, so :class:`pyronas.optim.NGVI` writes each
scale from its location's precision estimate. Samples are pathwise (``loc + scale * eps``).

References:
    [1] M. Zhang et al. BaLeNAS: Differentiable Architecture Search via the Bayesian Learning Rule. CVPR 2022.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroModule, PyroParam

from pyronas.infer.primitives import kl_weight
from pyronas.spaces import SearchSpace


class BaLeNASGuide(PyroModule):
    """``q(alpha[cell]) = Normal(loc, scale)`` over ``[E, K]``, initially ``loc ~ init_loc_scale * randn``,
    ``scale = init_scale``."""

    def __init__(
        self, space: SearchSpace, init_scale: float = 0.1, init_loc_scale: float = 1e-3, kl_weight: float = 1e-3
    ):
        super().__init__(name="arch")
        self.space = space
        self.kl_weight = kl_weight
        self.locs = PyroModule()
        self.scales = PyroModule()
        for cell, shape in space.arch_shape.items():
            setattr(self.locs, cell, PyroParam(init_loc_scale * torch.randn(shape)))
            setattr(self.scales, cell, PyroParam(torch.full(shape, init_scale), constraints.softplus_positive))

    def forward(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> None:
        for cell in self.space.cell_types:
            q = dist.Normal(getattr(self.locs, cell), getattr(self.scales, cell))
            with kl_weight(self.kl_weight):
                pyro.sample(f"arch.{cell}.logits", q.to_event(2))

    @torch.no_grad()
    def op_probabilities(self) -> dict[str, torch.Tensor]:
        """Per-edge op probabilities ``{cell: [E, K]}``: the softmax of the location (the mode of ``alpha``)."""
        return {cell: getattr(self.locs, cell).softmax(-1) for cell in self.space.cell_types}
