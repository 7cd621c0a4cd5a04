"""BaLeNAS as a Pyro model: a Gaussian prior on per-edge op logits, softmax of the sample as mixing weights.

``alpha[cell] ~ Normal(0, 1 / prior_precision)`` elementwise over ``[E, K]``; the supernet mixes ops
with ``softmax(alpha)`` per edge. Paired with the Normal guide in ``guides/balenas.py`` and fitted
with :class:`pyronas.optim.NGVI` (the Bayesian learning rule). The KL term is weighted by
``kl_weight``: the validation mean cross-entropy then counts as ``1 / kl_weight`` observations,
and the search engine gives NGVI ``num_data = 1 / kl_weight``. The default ``kl_weight = 1e-3``
with ``prior_precision = 1`` puts the prior's pull ``kl_weight * prior_precision * mu`` at the DARTS
architecture weight decay (``1e-3``).

References:
    [1] M. Zhang, S. Pan, X. Chang, S. Su, J. Hu, G. Haffari, B. Yang. BaLeNAS: Differentiable
        Architecture Search via the Bayesian Learning Rule. CVPR 2022.
    [2] M. E. Khan, H. Rue. The Bayesian Learning Rule. JMLR 24, 2023.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from pyronas.infer.primitives import classify, kl_weight
from pyronas.spaces import SearchSpace


class BaLeNASModel(torch.nn.Module):
    """``alpha[cell] ~ Normal(0, prior_precision^{-1/2})^{E x K}``; ``weights = softmax(alpha)`` per edge."""

    def __init__(
        self, supernet: torch.nn.Module, space: SearchSpace, prior_precision: float = 1.0, kl_weight: float = 1e-3
    ):
        super().__init__()
        if prior_precision <= 0:
            raise ValueError(f"prior_precision must be > 0, got {prior_precision}")
        self.supernet = supernet
        self.space = space
        self.prior_precision = prior_precision
        self.kl_weight = kl_weight

    def arch(self) -> dict[str, torch.Tensor]:
        """Sample the architecture sites; return mixing weights ``{cell: [E, K]}``."""
        device = next(self.supernet.parameters()).device
        weights = {}
        for cell, shape in self.space.arch_shape.items():
            prior = dist.Normal(torch.zeros(shape, device=device), self.prior_precision**-0.5)
            with kl_weight(self.kl_weight):
                alpha = pyro.sample(f"arch.{cell}.logits", prior.to_event(2))
            weights[cell] = alpha.softmax(-1)
        return weights

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return classify(self.supernet, images, labels, self.arch())


# -- the method's plugin spec (found by pyronas.registry; see pyronas.infer.contract for the contract) --
from pyronas.guides.balenas import BaLeNASGuide  # noqa: E402

from pyronas.registry import MethodSpec  # noqa: E402

SPEC = MethodSpec(
    "balenas",
    BaLeNASModel,
    BaLeNASGuide,
    protocol={"epochs": 50, "warmup_epochs": 0, "weight_decay": 3e-4, "arch_optim": "ngvi"},
    option_bounds={
        "prior_precision": "positive",
        "kl_weight": "non-negative",
        "init_scale": "positive",
        "init_loc_scale": "non-negative",
    },
    description="BaLeNAS: Gaussian op logits, mean-field Normal guide fitted by NGVI (Bayesian learning rule)",
)
