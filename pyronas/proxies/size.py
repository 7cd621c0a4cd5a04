"""Size proxies: parameter count and FLOPs of one forward pass, both in millions.

FLOPs follow the counting conventions of the per-layer counter behind the NAS-Bench-Suite-Zero
reference scores, so the two agree exactly on NB201 networks: a convolution counts its
multiply-accumulates (plus one per output for a bias), a linear layer its multiply-accumulates,
BatchNorm one per input element (two
when affine), ReLU one per element, a ``k x k`` pooling ``k^2`` per output element, and a global
adaptive pooling ``(window + 1)^2`` per output element and channel. Identities, zeros and
additions are free.

References:
    [1] A. Krishnakumar, C. White, A. Zela, R. Tu, M. Safari, F. Hutter. NAS-Bench-Suite-Zero:
        Accelerating Research on Zero Cost Proxies. NeurIPS 2022 Datasets and Benchmarks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pyronas.nn.ops import AvgPool


def params(net: nn.Module, images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> float:
    """Number of parameters, in millions."""
    return sum(p.numel() for p in net.parameters()) / 1e6


def _window(size_in: int, size_out: int, i: int) -> int:
    return math.ceil((i + 1) * size_in / size_out) - math.floor(i * size_in / size_out)


def _layer_flops(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    if isinstance(m, nn.Conv2d):
        per_output = x.shape[1] // m.groups * m.kernel_size[0] * m.kernel_size[1] + (m.bias is not None)
        return y.numel() * per_output
    if isinstance(m, nn.Linear):
        return x.shape[0] * m.in_features * m.out_features
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return x.numel() * (2 if m.affine else 1)
    if isinstance(m, nn.ReLU):
        return x.numel()
    if isinstance(m, AvgPool):  # NB201's 3x3 average pooling, stride 1
        return y.numel() * 9
    if isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
        k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size, m.kernel_size)
        return y.numel() * k[0] * k[1]
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        (h, w), (oh, ow) = x.shape[-2:], y.shape[-2:]
        area = sum((_window(h, oh, i) + 1) * (_window(w, ow, j) + 1) for i in range(oh) for j in range(ow))
        return x.shape[0] * x.shape[1] * area
    return 0


def flops(net: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """FLOPs of one image shaped like ``images[0]``, in millions (conventions in the module doc)."""
    total = 0

    def on_forward(m: nn.Module, inputs, out) -> None:
        nonlocal total
        total += _layer_flops(m, inputs[0], out)

    handles = [m.register_forward_hook(on_forward) for m in net.modules() if not list(m.children())]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros((1, *images.shape[1:]), dtype=images.dtype, device=images.device))
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    return total / 1e6
