"""DrNAS guide: a Dirichlet per edge with concentration ``ELU(theta) + 1``, sampled pathwise.

References:
    [1] X. Chen et al. DrNAS: Dirichlet Neural Architecture Search. ICLR 2021.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule, PyroParam

from pyronas.infer.primitives import kl_weight
from pyronas.spaces import SearchSpace


class DrNASGuide(PyroModule):
    """``q(w[cell][e]) = Dirichlet(ELU(theta[cell][e]) + 1)``, ``theta`` initialised ``init_scale * randn``."""

    def __init__(self, space: SearchSpace, init_scale: float = 1e-3, kl_weight: float = 0.0):
        super().__init__(name="arch")
        self.space = space
        self.kl_weight = kl_weight
        for cell, shape in space.arch_shape.items():
            setattr(self, f"{cell}_theta", PyroParam(init_scale * torch.randn(shape)))

    def concentration(self, cell: str) -> torch.Tensor:
        """Dirichlet concentration ``[E, K]`` of one cell type."""
        return F.elu(getattr(self, f"{cell}_theta")) + 1.0

    def forward(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> None:
        for cell in self.space.cell_types:
            with kl_weight(self.kl_weight):
                pyro.sample(f"arch.{cell}", dist.Dirichlet(self.concentration(cell)).to_event(1))

    @torch.no_grad()
    def op_probabilities(self) -> dict[str, torch.Tensor]:
        """Per-edge op probabilities ``{cell: [E, K]}``: the Dirichlet means."""
        out = {}
        for cell in self.space.cell_types:
            beta = self.concentration(cell)
            out[cell] = beta / beta.sum(-1, keepdim=True)
        return out
