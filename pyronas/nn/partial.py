"""Partial-channel connections (PC-DARTS) and channel widening between search stages.

With ``K`` partial channels an edge's mixed op sees only the first ``C / K`` channels of its
input; the other channels bypass it. The two parts are concatenated and the channels shuffled
in ``K`` groups (:func:`channel_shuffle`), so that the next edge's mixed op sees other channels.

Widening (DrNAS progressive learning, e.g. ``K = 4 -> 2``) rebuilds each op at ``r`` times its
channels and replicates the trained channels (:func:`widen_tensor`). The widened op computes
the old op on every copy of a replicated input: ``wide(cat([x] * r)) == cat([op(x)] * r)``.

References:
    [1] Y. Xu, L. Xie, X. Zhang, X. Chen, G.-J. Qi, Q. Tian, H. Xiong. PC-DARTS: Partial Channel
        Connections for Memory-Efficient Architecture Search. ICLR 2020.
    [2] X. Chen, R. Wang, M. Cheng, X. Tang, C.-J. Hsieh. DrNAS: Dirichlet Neural Architecture
        Search. ICLR 2021.
    [3] T. Chen, I. Goodfellow, J. Shlens. Net2Net: Accelerating Learning via Knowledge Transfer.
        ICLR 2016.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``x [B, C, H, W]`` from ``groups`` equal groups (a permutation).

    Channel ``g * (C / groups) + j`` moves to ``j * groups + g``.
    """
    if groups == 1:
        return x
    return x.unflatten(1, (groups, -1)).transpose(1, 2).flatten(1, 2)


def partial_forward(
    x: torch.Tensor, partial_channels: int, mix: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``mix`` on the first ``C / K`` channels of ``x [B, C, H, W]``, the rest bypassing it, then shuffled.

    ``mix`` must keep its input's shape. ``K = 1`` is exactly ``mix(x)``.
    """
    if partial_channels == 1:
        return mix(x)
    c = x.shape[1] // partial_channels
    return channel_shuffle(torch.cat([mix(x[:, :c]), x[:, c:]], dim=1), partial_channels)


def check_partial_channels(channels: int, partial_channels: int) -> None:
    """Raise ``ValueError`` unless ``partial_channels`` is a positive divisor of ``channels``."""
    if not isinstance(partial_channels, int) or partial_channels < 1 or channels % partial_channels:
        raise ValueError(
            f"partial_channels must be a positive divisor of the channel count {channels}, got {partial_channels!r}"
        )


def widen_tensor(t: torch.Tensor, factor: int) -> torch.Tensor:
    """Replicate the channels of one parameter, buffer or optimizer-state tensor ``factor`` times.

    Scalars are copied; vectors ``[c]`` (BatchNorm statistics and affine terms) are tiled to
    ``[r c]``; weights ``[out, in, ...]`` (convolutions with ``groups=1``) are tiled along both
    channel axes and divided by ``r``, because each output now sums ``r`` copies of every input.
    The map is linear, so applying it to a momentum buffer too keeps the pending momentum step:
    ``widen(w) - lr * widen(m) == widen(w - lr * m)``.
    """
    if factor < 1:
        raise ValueError(f"widening factor must be >= 1, got {factor}")
    if t.dim() == 0 or factor == 1:
        return t.clone()
    if t.dim() == 1:
        return t.repeat(factor)
    return t.repeat(factor, factor, *([1] * (t.dim() - 2))) / factor


def widen_module(old: nn.Module, new: nn.Module, factor: int) -> nn.Module:
    """Load ``new`` (the same op built at ``factor`` times the channels) with ``old``'s widened state."""
    new.load_state_dict({name: widen_tensor(value, factor) for name, value in old.state_dict().items()})
    return new
