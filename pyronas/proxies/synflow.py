"""SynFlow: synaptic flow of an all-ones input through the absolute-valued network.

The network is copied to float64 with every parameter replaced by its absolute value and its
BatchNorm layers removed (they would renormalise the flow away); an all-ones image goes through
it, and the score is ``sum |theta * dR/dtheta|`` over convolution and linear weights, where ``R``
is the sum of the logits. Data-independent: only the image shape is used. A cell whose output does
not depend on its input scores 0.

References:
    [1] H. Tanaka, D. Kunin, D. Yamins, S. Ganguli. Pruning neural networks without any data by
        iteratively conserving synaptic flow. NeurIPS 2020.
    [2] M. Abdelfattah, A. Mehrotra, L. Dudziak, N. Lane. Zero-Cost Proxies for Lightweight NAS.
        ICLR 2021 (synflow as a NAS proxy, BatchNorm removed).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from pyronas.proxies._layers import strip_batchnorm, weighted_layers


def synflow(net: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """SynFlow score of ``net`` (not modified) for inputs shaped like ``images [B, C, H, W]``."""
    flow = strip_batchnorm(copy.deepcopy(net)).double()
    with torch.no_grad():
        for p in flow.parameters():
            p.abs_()
    flow.zero_grad(set_to_none=True)
    ones = torch.ones((1, *images.shape[1:]), dtype=torch.float64, device=images.device)
    flow(ones).sum().backward()
    grads = [(layer.weight.detach(), layer.weight.grad) for layer in weighted_layers(flow)]
    return float(sum((w * g).abs().sum() for w, g in grads if g is not None))
