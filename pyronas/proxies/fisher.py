"""Fisher: per-channel Fisher information of the activations of every convolution and linear layer.

For a layer output ``a [B, C, ...]`` with loss gradient ``g``, channel ``c`` scores
``0.5 * mean_b (sum_spatial a * g)^2`` (the loss change from removing the channel, to second
order). As in the per-parameter form of [2], a channel's score is counted once for each weight
feeding it (``in_channels * kernel area``), then everything is summed.

References:
    [1] L. Theis, I. Korshunova, A. Tejani, F. Huszar. Faster gaze prediction with dense networks
        and Fisher pruning. arXiv:1801.05787, 2018.
    [2] M. Abdelfattah, A. Mehrotra, L. Dudziak, N. Lane. Zero-Cost Proxies for Lightweight NAS.
        ICLR 2021.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pyronas.proxies._layers import weighted_layers


def fisher(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Summed Fisher channel saliency of ``net`` on one batch (BatchNorm in training mode)."""
    total = torch.zeros((), dtype=torch.float64, device=images.device)

    def on_forward(layer: nn.Module, inputs, out: torch.Tensor) -> None:
        if not out.requires_grad:
            return
        per_weight = math.prod(layer.weight.shape[1:])

        def on_grad(grad: torch.Tensor) -> None:
            nonlocal total
            g_bc = (out.detach() * grad).flatten(2).sum(-1) if out.dim() > 2 else out.detach() * grad
            total += 0.5 * g_bc.double().pow(2).mean(0).sum() * per_weight

        out.register_hook(on_grad)

    handles = [layer.register_forward_hook(on_forward) for layer in weighted_layers(net)]
    try:
        F.cross_entropy(net(images), labels).backward()
    finally:
        for h in handles:
            h.remove()
    net.zero_grad(set_to_none=True)
    return float(total)
