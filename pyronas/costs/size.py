"""Exact parameter and FLOP tables of a space's standalone networks: per candidate where the space maps its
networks' modules to candidates (NB201, DARTS), per genotype otherwise (:mod:`pyronas.costs.joint`).

FLOPs are those :class:`torch.utils.flop_counter.FlopCounterMode` counts for one image (convolutions and
matrix products, two FLOPs per multiply-add; element-wise ops, BatchNorm and pooling other than by
convolution count 0), so a table's sum equals FlopCounterMode on the whole network.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pyronas.costs.candidates import ChosenOp
from pyronas.costs.decompose import decompose
from pyronas.costs.joint import CostTables, joint_table, per_genotype
from pyronas.costs.table import NetworkSize
from pyronas.spaces import SearchSpace


def count_params(module: nn.Module) -> int:
    """Number of parameters (each shared tensor once)."""
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def count_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs of ``module(*inputs)`` as FlopCounterMode counts them (the total only: no per-module breakdown, which
    makes counting a small network 30 times slower)."""
    counter = FlopCounterMode(display=False, depth=0)
    with counter:
        module(*inputs)
    return counter.get_total_flops()


def structure(size: NetworkSize) -> Callable[[nn.Module], tuple[float, float]]:
    """``(parameters, FLOPs per image)`` of a network at ``size``: what decides which decisions interact
    (:func:`~pyronas.costs.grouped.interaction_groups`), counted on the device the network is on."""

    def counts(net: nn.Module) -> tuple[float, float]:
        device = next(itertools.chain(net.parameters(), net.buffers()), torch.zeros(())).device
        return float(count_params(net)), float(count_flops(net, size.images(device=device)))

    return counts


def params_table(space: SearchSpace, size: NetworkSize) -> CostTables:
    """Parameters of ``space``'s standalone networks at ``size``, per candidate and fixed (or on whole networks)."""
    if per_genotype(space):
        return joint_table(space, size, "params", "count", lambda net: float(count_params(net)), structure(size))
    return decompose(
        space, size, "params", "count", lambda op: float(count_params(op.module)), lambda net: float(count_params(net))
    )


def flops_table(space: SearchSpace, size: NetworkSize) -> CostTables:
    """FLOPs per image of ``space``'s standalone networks at ``size``, per candidate and fixed (or whole networks)."""

    def network_flops(net: nn.Module) -> float:
        return float(count_flops(net, size.images()))

    if per_genotype(space):
        return joint_table(space, size, "flops", "flop", network_flops, structure(size))

    def op_flops(op: ChosenOp) -> float:
        return float(count_flops(op.module, torch.zeros(op.input_shape)))

    return decompose(space, size, "flops", "flop", op_flops, network_flops)
