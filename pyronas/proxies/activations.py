"""Proxies of how a network separates the inputs of one batch: NASWOT and Jacobian covariance.

References:
    [1] J. Mellor, J. Turner, A. Storkey, E. Crowley. Neural Architecture Search without Training.
        ICML 2021 (NASWOT, v2 of arXiv:2006.04647; jacob_cov in v1).
"""

from __future__ import annotations

import torch
from torch import nn

JACOB_COV_EPS = 1e-5  # regulariser of the correlation eigenvalues in jacob_cov


def nwot(net: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """NASWOT: ``log |K|`` of the binary ReLU-code kernel of the batch.

    Every ``nn.ReLU`` contributes, for each pair of images, the number of its units on which both
    are active or both inactive (``N_units`` minus the Hamming distance of their codes);
    ``K [B, B]`` sums these over all ReLUs. NaN where ``K`` is singular (e.g. inputs that the
    network does not tell apart).
    """
    b = len(images)
    kernel = torch.zeros(b, b, dtype=torch.float64, device=images.device)

    def on_forward(module: nn.Module, inputs, out) -> None:
        code = (inputs[0].detach().reshape(b, -1) > 0).double()
        kernel.add_(code @ code.T).add_((1 - code) @ (1 - code).T)

    handles = [m.register_forward_hook(on_forward) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net(images)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else float("nan")


def jacob_cov(net: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """Jacobian covariance: ``-sum_i log(v_i + k) + 1 / (v_i + k)``, ``k = 1e-5``.

    ``v`` are the eigenvalues of the correlation matrix ``[B, B]`` of the per-image input
    gradients of the summed logits. Highest (``-B``) when the gradients are uncorrelated; NaN
    where a gradient is constant (the correlation is undefined).
    """
    x = images.detach().clone().requires_grad_(True)
    net.zero_grad(set_to_none=True)
    (grad,) = torch.autograd.grad(net(x).sum(), x, allow_unused=True)
    if grad is None:
        return float("nan")
    corr = torch.corrcoef(grad.reshape(len(x), -1).double())
    if not bool(torch.isfinite(corr).all()):
        return float("nan")
    v = torch.linalg.eigvalsh(corr) + JACOB_COV_EPS
    return float(-(v.log() + v.reciprocal()).sum())
