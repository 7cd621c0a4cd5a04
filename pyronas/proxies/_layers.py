"""Helpers shared by the proxies: the weighted layers a proxy sums over, and BatchNorm removal."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

WEIGHTED = (nn.Conv2d, nn.Linear)


def weighted_layers(net: nn.Module) -> Iterator[nn.Module]:
    """Convolutions and linear layers of ``net``: the layers whose weights the saliency proxies score."""
    return (m for m in net.modules() if isinstance(m, WEIGHTED))


def weights(net: nn.Module) -> list[torch.Tensor]:
    """The ``weight`` tensors of :func:`weighted_layers`, in module order."""
    return [m.weight for m in weighted_layers(net)]


def strip_batchnorm(net: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer of ``net`` by an identity, in place; returns ``net``."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())
    return net


def finite_or_nan(value: float) -> float:
    """``value`` as a float, or NaN where it is infinite or NaN (an undefined score)."""
    value = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
    return value if math.isfinite(value) else math.nan
