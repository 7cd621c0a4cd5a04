"""Gradient saliencies of the training loss at initialisation: grad_norm, snip and grasp.

Each takes one minibatch, the cross-entropy of the network's logits (BatchNorm in training mode,
i.e. batch statistics) and sums a per-weight quantity over all convolution and linear weights.

References:
    [1] M. Abdelfattah, A. Mehrotra, L. Dudziak, N. Lane. Zero-Cost Proxies for Lightweight NAS.
        ICLR 2021 (grad_norm; snip and grasp as NAS proxies).
    [2] N. Lee, T. Ajanthan, P. Torr. SNIP: Single-shot Network Pruning based on Connection
        Sensitivity. ICLR 2019.
    [3] C. Wang, G. Zhang, R. Grosse. Picking Winning Tickets Before Training by Preserving
        Gradient Flow (GraSP). ICLR 2020.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pyronas.proxies._layers import weights


def _loss(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(net(images), labels)


def _grads(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, create_graph: bool = False):
    ws = weights(net)
    grads = torch.autograd.grad(_loss(net, images, labels), ws, create_graph=create_graph, allow_unused=True)
    return ws, [torch.zeros_like(w) if g is None else g for w, g in zip(ws, grads)]


def grad_norm(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Sum over layers of the Euclidean norm of the loss gradient w.r.t. the layer's weight."""
    _, grads = _grads(net, images, labels)
    return float(sum(g.norm() for g in grads))


def snip(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Connection sensitivity ``sum |theta * dL/dtheta|`` (the gradient w.r.t. a multiplicative mask at 1)."""
    ws, grads = _grads(net, images, labels)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(ws, grads)))


def grasp(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """GraSP ``-sum theta * (H g)``: ``g`` the loss gradient, ``H g`` a Hessian-gradient product.

    The sign follows the NAS-proxy convention of [1]: higher is better.
    """
    _, first = _grads(net, images, labels)
    ws, grads = _grads(net, images, labels, create_graph=True)
    z = sum((g0.detach() * g).sum() for g0, g in zip(first, grads) if g.requires_grad)
    if not isinstance(z, torch.Tensor):  # no weight influences the loss
        return 0.0
    hg = torch.autograd.grad(z, ws, allow_unused=True)
    return float(-sum((w.detach() * h).sum() for w, h in zip(ws, hg) if h is not None))
