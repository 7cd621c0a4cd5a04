"""Standalone networks that together contain every candidate op, and the inputs each candidate sees.

Only the :class:`~pyronas.spaces.SearchSpace` interface is used: genotypes come from ``derive`` on
random scores that favour candidates not seen yet, ``one_hot`` says which candidates a genotype holds,
and ``chosen_ops`` finds their modules in ``network``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pyronas.costs.table import NetworkSize
from pyronas.spaces import SearchSpace


def covering_genotypes(space: SearchSpace, seed: int = 0) -> tuple[list[str], dict[str, torch.Tensor]]:
    """Genotypes that together hold every candidate ``derive`` can choose, and the candidates it never chooses.

    Returns ``(genotypes, never)`` with ``never = {cell_type: bool [E, K]}`` (e.g. DARTS' ``none``: a
    standalone network has no such op, so its cost is 0).
    """
    generator = torch.Generator().manual_seed(seed)
    missing = {cell: torch.ones(shape, dtype=torch.bool) for cell, shape in space.arch_shape.items()}
    genotypes = []
    while any(m.any() for m in missing.values()):
        scores = {cell: torch.rand(m.shape, generator=generator) + 2.0 * m for cell, m in missing.items()}
        genotype = space.derive(scores)
        hot = space.one_hot(genotype)
        new = {cell: missing[cell] & (hot[cell] > 0) for cell in missing}
        if not any(n.any() for n in new.values()):
            break  # what is left is never derived
        genotypes.append(genotype)
        missing = {cell: missing[cell] & ~new[cell] for cell in missing}
    return genotypes, missing


@dataclass
class ChosenOp:
    """One candidate op inside a standalone network, with the input shape it sees there."""

    cell: str
    edge: int
    op: int
    module: nn.Module
    input_shape: tuple[int, ...] = ()


@torch.no_grad()
def chosen_ops(space: SearchSpace, network: nn.Module, images: torch.Tensor) -> list[ChosenOp]:
    """Every chosen op of ``network`` (one per cell and kept edge) with its input shape on ``images``."""
    ops = [ChosenOp(cell, edge, op, module) for cell, edge, op, module in space.chosen_ops(network)]
    if not ops:
        raise ValueError(f"{space.name}'s chosen_ops found no candidate op in {type(network).__name__}")
    handles = []
    for entry in ops:

        def record(module: nn.Module, args: tuple, entry: ChosenOp = entry) -> None:
            entry.input_shape = tuple(args[0].shape)

        handles.append(entry.module.register_forward_pre_hook(record))
    try:
        network(images)
    finally:
        for handle in handles:
            handle.remove()
    if any(not entry.input_shape for entry in ops):
        raise ValueError(f"some of {space.name}'s chosen ops are never called by {type(network).__name__}")
    return ops


def build(space: SearchSpace, genotype: str, size: NetworkSize, device: torch.device | str = "cpu") -> nn.Module:
    """The standalone network of ``genotype`` at ``size``, in eval mode, on ``device``."""
    return space.network(genotype, **size.network_kwargs()).to(device).eval()
