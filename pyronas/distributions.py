"""Distributions over mixing weights that the torch/Pyro libraries do not provide.

:class:`MaskedDirichlet` is a Dirichlet on the face of the simplex spanned by the kept ops of
each edge: pruned ops get weight exactly 0 and shapes stay ``[..., K]``. By the
subcomposition property of the Dirichlet it is the law of a full ``Dirichlet(alpha)`` sample
with the pruned entries set to 0 and the rest renormalised, as DrNAS samples after pruning.

References:
    [1] X. Chen et al. DrNAS: Dirichlet Neural Architecture Search. ICLR 2021.
    [2] M. Figurnov, S. Mohamed, A. Mnih. Implicit Reparameterization Gradients. NeurIPS 2018.
"""

from __future__ import annotations

import torch
from pyro.distributions import Dirichlet, TorchDistribution, constraints
from torch.distributions import Gamma, register_kl


class MaskedDirichlet(TorchDistribution):
    """``Dirichlet(concentration[keep])`` on the kept coordinates, exactly 0 on the others.

    Args:
        concentration: positive ``[..., K]``; entries where ``keep`` is false are ignored.
        keep: bool ``[..., K]`` (broadcast to ``concentration``), at least one true per row.

    ``rsample`` is pathwise: independent ``Gamma(alpha_k, 1)`` draws with implicit
    reparameterisation gradients, zeroed where pruned and normalised per row.
    """

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration: torch.Tensor, keep: torch.Tensor, validate_args: bool | None = None):
        if concentration.dim() < 1:
            raise ValueError("concentration must have at least one dimension")
        self.concentration = concentration
        self.keep = keep.to(dtype=torch.bool, device=concentration.device).expand(concentration.shape)
        if not bool(self.keep.any(-1).all()):
            raise ValueError("keep must leave at least one op per edge")
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> MaskedDirichlet:
        shape = torch.Size(batch_shape) + self.event_shape
        return MaskedDirichlet(self.concentration.expand(shape), self.keep.expand(shape))

    def _kept(self) -> torch.Tensor:
        """Concentrations with pruned entries set to 1 (their terms in the density then vanish)."""
        return torch.where(self.keep, self.concentration, torch.ones_like(self.concentration))

    def rsample(self, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        gamma = Gamma(self._kept().expand(shape), torch.ones(shape, device=self.concentration.device)).rsample()
        gamma = torch.where(self.keep.expand(shape), gamma, torch.zeros_like(gamma))
        return gamma / gamma.sum(-1, keepdim=True)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        alpha = self._kept()
        log_value = torch.where(self.keep, value, torch.ones_like(value)).log()
        total = torch.where(self.keep, alpha, torch.zeros_like(alpha)).sum(-1)
        return ((alpha - 1) * log_value).sum(-1) + torch.lgamma(total) - torch.lgamma(alpha).sum(-1)

    @property
    def mean(self) -> torch.Tensor:
        alpha = torch.where(self.keep, self.concentration, torch.zeros_like(self.concentration))
        return alpha / alpha.sum(-1, keepdim=True)


def dirichlet(concentration: torch.Tensor, keep: torch.Tensor | None = None) -> TorchDistribution:
    """``Dirichlet(concentration)``, or its :class:`MaskedDirichlet` face when ``keep`` prunes an op."""
    if keep is None or bool(keep.all()):
        return Dirichlet(concentration)
    return MaskedDirichlet(concentration, keep)


@register_kl(MaskedDirichlet, MaskedDirichlet)
def _kl_masked_dirichlet(p: MaskedDirichlet, q: MaskedDirichlet) -> torch.Tensor:
    """KL between Dirichlets on the same face (raises ``NotImplementedError`` for different faces)."""
    if p.keep.shape != q.keep.shape or not torch.equal(p.keep, q.keep):
        raise NotImplementedError("KL between masked Dirichlets on different faces")
    a, b, keep = p._kept(), q._kept(), p.keep
    a0 = torch.where(keep, a, torch.zeros_like(a)).sum(-1)
    b0 = torch.where(keep, b, torch.zeros_like(b)).sum(-1)
    cross = ((a - b) * (torch.digamma(a) - torch.digamma(a0).unsqueeze(-1))).sum(-1)
    return torch.lgamma(a0) - torch.lgamma(a).sum(-1) - torch.lgamma(b0) + torch.lgamma(b).sum(-1) + cross
