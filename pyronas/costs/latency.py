"""Latency tables measured on a device: each candidate op timed alone on the input it sees in the network.

A candidate's entry is the sum over the cells of its type of the median time of its module; the fixed part
is the median, over the measuring networks, of the whole network's median time less its chosen ops' (so it
holds stem, reductions, head, the node sums and per-call overheads). Latency is not exactly additive
(caches, kernel launches, threads): check the table against whole networks (see the tests). On the shared
2-core CPU here (one thread, batch 1, other jobs running), 8 random cells' whole-network latency was predicted with
a median absolute error of 3-9 % (NB201 and DARTS, C=4 at 16 x 16 and C=16 at 32 x 32), single cells up to 45 %.
A space costed per genotype (a network of your own, :mod:`pyronas.costs.joint`) has every genotype's whole network
timed instead.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from pyronas.costs import cache
from pyronas.costs.candidates import ChosenOp
from pyronas.costs.decompose import decompose
from pyronas.costs.joint import CostTables, joint_table, per_genotype
from pyronas.costs.size import structure
from pyronas.costs.table import NetworkSize
from pyronas.spaces import SearchSpace


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def measure(fn: Callable[[], object], device: torch.device | str = "cpu", warmup: int = 3, repeats: int = 10) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` calls, after ``warmup`` untimed calls."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def network_latency(
    net: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu", warmup: int = 3, repeats: int = 10
) -> float:
    """Median latency of ``net(images)`` in ms (``net`` in eval mode, ``images`` on ``device``)."""
    return measure(lambda: net(images), device, warmup, repeats)


def latency_table(
    space: SearchSpace,
    size: NetworkSize,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 1,
    warmup: int = 3,
    repeats: int = 10,
    cache_dir: str | os.PathLike | None = None,
    refresh: bool = False,
) -> CostTables:
    """Latency in ms of a batch of ``batch_size`` images through ``space``'s standalone networks at ``size``: per
    candidate, or per genotype (each genotype's whole network timed) where the space does not map candidates to
    modules (:mod:`pyronas.costs.joint`).

    Read from the cache (:mod:`pyronas.costs.cache`, keyed by :func:`~pyronas.costs.cache.device_name` and the
    space, size, batch size and torch version) unless ``refresh``; measured and cached otherwise.
    """
    device = torch.device(device)
    name = cache.device_name(device)
    key = {"space": space.name, "size": size.__dict__, "batch_size": batch_size, "torch": torch.__version__}
    if per_genotype(space):  # a network of one's own: a name may stand for different networks, so key on it too
        key["supernet"] = repr(space.supernet(**size.network_kwargs()))
    path = cache.cache_path(name, key, cache_dir)
    if not refresh and (table := cache.load(path)) is not None:
        return table
    info = {"device": name, "batch_size": batch_size, "warmup": warmup, "repeats": repeats, "torch": torch.__version__}

    def whole(net: nn.Module) -> float:
        return network_latency(net, torch.randn(batch_size, *size.images().shape[1:], device=device), device,
                               warmup, repeats)  # fmt: skip

    if per_genotype(space):
        table = joint_table(space, size, "latency", "ms", whole, structure(size), exact=False, device=device, info=info)
        cache.store(path, table)
        return table
    timed: dict[tuple[str, tuple[int, ...]], float] = {}  # equal modules on equal inputs are timed once

    def op_latency(op: ChosenOp) -> float:
        signature = (repr(op.module), op.input_shape)
        if signature not in timed:
            x = torch.randn(op.input_shape, device=device)
            timed[signature] = measure(lambda: op.module(x), device, warmup, repeats)
        return timed[signature]

    table = decompose(space, size, "latency", "ms", op_latency, whole, exact=False, device=device,
                      batch_size=batch_size, info=info)  # fmt: skip
    cache.store(path, table)
    return table
