"""DrNAS guide: a Dirichlet per edge with concentration ``ELU(theta) + 1``, sampled pathwise.

After pruning (progressive learning) each edge's Dirichlet lives on the face of its kept ops
(:class:`~pyronas.distributions.MaskedDirichlet`); ``theta`` keeps its ``[E, K]`` shape.

References:
    [1] X. Chen et al. DrNAS: Dirichlet Neural Architecture Search. ICLR 2021.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyro
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule, PyroParam

from pyronas.distributions import dirichlet
from pyronas.infer.primitives import kl_weight
from pyronas.infer.pruning import OpMask
from pyronas.spaces import SearchSpace


class DrNASGuide(PyroModule):
    """``q(w[cell][e]) = Dirichlet(ELU(theta[cell][e]) + 1)``, ``theta`` initialised ``init_scale * randn``."""

    def __init__(self, space: SearchSpace, init_scale: float = 1e-3, kl_weight: float = 0.0):
        super().__init__(name="arch")
        self.space = space
        self.kl_weight = kl_weight
        for cell, shape in space.arch_shape.items():
            setattr(self, f"{cell}_theta", PyroParam(init_scale * torch.randn(shape)))
        self.op_mask = OpMask(space.arch_shape)

    def concentration(self, cell: str) -> torch.Tensor:
        """Dirichlet concentration ``[E, K]`` of one cell type (pruned entries included, unused)."""
        return F.elu(getattr(self, f"{cell}_theta")) + 1.0

    def forward(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> None:
        for cell in self.space.cell_types:
            with kl_weight(self.kl_weight):
                pyro.sample(f"arch.{cell}", dirichlet(self.concentration(cell), self.op_mask[cell]).to_event(1))

    def prune(self, keep: Mapping[str, torch.Tensor]) -> None:
        """Restrict each edge's Dirichlet to the ops true in ``keep`` ``{cell: bool [E, K]}``."""
        self.op_mask.prune(keep)

    @torch.no_grad()
    def op_probabilities(self) -> dict[str, torch.Tensor]:
        """Per-edge op probabilities ``{cell: [E, K]}``: the Dirichlet means (0 for pruned ops)."""
        out = {}
        for cell in self.space.cell_types:
            beta = self.concentration(cell)
            beta = torch.where(self.op_mask[cell], beta, torch.zeros_like(beta))
            out[cell] = beta / beta.sum(-1, keepdim=True)
        return out
