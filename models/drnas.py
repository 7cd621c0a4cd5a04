"""DrNAS as a Pyro model: per-edge Dirichlet mixing weights.

``w[cell][e] ~ Dirichlet(prior_concentration)``; the supernet mixes ops with a fresh pathwise
sample of ``w`` at every step (the guide's ``rsample``). With ``kl_weight = 0`` (the
published default, which regularises the guide by weight decay instead) the ELBO reduces to
the expected cross-entropy; a positive ``kl_weight`` adds ``kl_weight * KL(q || p)`` per edge.

References:
    [1] X. Chen, R. Wang, M. Cheng, X. Tang, C.-J. Hsieh. DrNAS: Dirichlet Neural
        Architecture Search. ICLR 2021.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from pyronas.infer.primitives import classify, kl_weight
from pyronas.spaces import SearchSpace


class DrNASModel(torch.nn.Module):
    """Dirichlet prior per edge, ``Dir(prior_concentration * 1)``; the samples are the mixing weights."""

    def __init__(
        self, supernet: torch.nn.Module, space: SearchSpace, prior_concentration: float = 1.0, kl_weight: float = 0.0
    ):
        super().__init__()
        self.supernet = supernet
        self.space = space
        self.prior_concentration = prior_concentration
        self.kl_weight = kl_weight

    def arch(self) -> dict[str, torch.Tensor]:
        """Sample the architecture sites; return mixing weights ``{cell: [E, K]}``."""
        device = next(self.supernet.parameters()).device
        weights = {}
        for cell, shape in self.space.arch_shape.items():
            prior = dist.Dirichlet(torch.full(shape, self.prior_concentration, device=device))
            with kl_weight(self.kl_weight):
                weights[cell] = pyro.sample(f"arch.{cell}", prior.to_event(1))
        return weights

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return classify(self.supernet, images, labels, self.arch())
