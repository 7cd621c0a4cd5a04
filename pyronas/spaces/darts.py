"""The DARTS search space (14 edges x 8 ops, a normal and a reduction cell).

The networks (:mod:`pyronas.nn.darts`) are imported where they are built: ``pyronas.nn.darts``
imports this package for the genotype, so either module can be imported first.

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from pyronas.spaces.base import SearchSpace
from pyronas.spaces.darts_genotype import (
    CELL_TYPES,
    EDGE_NAMES,
    NUM_INPUTS,
    NUM_NODES,
    OPS,
    edge_index,
    make_genotype,
    parse_genotype,
)

NONE = OPS.index("none")


def derive_cell(scores: torch.Tensor) -> list[tuple[str, int]]:
    """``(op, input)`` pairs of one cell from op scores ``[14, 8]`` (higher is better).

    Per node, the two incoming edges whose strongest non-``none`` op scores highest (ties: the lower
    input), each with that op; pairs are listed strongest edge first, as in [1].
    """
    if tuple(scores.shape) != (len(EDGE_NAMES), len(OPS)):
        raise ValueError(f"DARTS op scores must have shape [14, 8], got {list(scores.shape)}")
    scores = scores.detach().double().cpu().clone()
    scores[:, NONE] = -torch.inf
    strength, best = scores.max(-1)
    pairs = []
    for dst in range(NUM_INPUTS, NUM_INPUTS + NUM_NODES):
        rows = [edge_index(dst, src) for src in range(dst)]
        kept = sorted(range(dst), key=lambda src: -strength[rows[src]].item())[:2]  # stable: lower input wins ties
        pairs.extend((OPS[int(best[rows[src]])], src) for src in kept)
    return pairs


class DARTSSpace(SearchSpace):
    """DARTS: genotypes in the usual ``Genotype(normal=..., ...)`` text; top-2 edges per node, best op per edge."""

    name = "darts"
    ops = OPS
    edge_names = EDGE_NAMES
    cell_types = CELL_TYPES
    default_cells_per_stage = 2  # the 8-cell search network of [1]

    def supernet(
        self, *, channels: int = 16, cells_per_stage: int = 2, num_classes: int = 10, in_channels: int = 3
    ) -> nn.Module:
        from pyronas.nn.darts import DARTSSupernet

        return DARTSSupernet(channels, cells_per_stage, num_classes, in_channels)

    def derive(self, scores: Mapping[str, torch.Tensor]) -> str:
        return str(make_genotype(derive_cell(scores["normal"]), derive_cell(scores["reduce"])))

    def network(
        self,
        genotype: str,
        *,
        channels: int = 36,
        cells_per_stage: int = 6,
        num_classes: int = 10,
        in_channels: int = 3,
        auxiliary: bool = False,
        drop_path: float = 0.0,
    ) -> nn.Module:
        from pyronas.nn.darts import DARTSNetwork

        return DARTSNetwork(
            parse_genotype(genotype),
            channels,
            cells_per_stage,
            num_classes,
            in_channels,
            auxiliary=auxiliary,
            drop_path=drop_path,
        )

    def validate(self, genotype: str) -> str:
        return str(parse_genotype(genotype))

    def export(self, supernet: nn.Module, genotype: str, **network) -> nn.Module:
        from pyronas.nn.darts import inherited_network

        return inherited_network(supernet, parse_genotype(genotype), **network)

    def one_hot(self, genotype: str) -> dict[str, torch.Tensor]:
        parsed = parse_genotype(genotype)
        out = {}
        for cell, pairs in (("normal", parsed.normal), ("reduce", parsed.reduce)):
            weights = torch.zeros(len(EDGE_NAMES), len(OPS))
            for k, (op, src) in enumerate(pairs):
                weights[edge_index(NUM_INPUTS + k // 2, src), OPS.index(op)] = 1.0
            out[cell] = weights
        return out

    def op_parameters(self, supernet: nn.Module) -> dict[str, list[list[list[nn.Parameter]]]]:
        from pyronas.nn.darts import SearchCell

        tables = {cell: [[[] for _ in OPS] for _ in EDGE_NAMES] for cell in CELL_TYPES}
        for cell in supernet.modules():
            if isinstance(cell, SearchCell):
                table = tables["reduce" if cell.reduce else "normal"]
                for e, mixed in enumerate(cell.edges):
                    for k, op in enumerate(mixed.ops):
                        table[e][k].extend(op.parameters())
        return tables

    def chosen_ops(self, network: nn.Module) -> list[tuple[str, int, int, nn.Module]]:
        from pyronas.nn.darts import Cell

        out = []
        for cell in network.modules():
            if isinstance(cell, Cell):
                kind = "reduce" if cell.reduce else "normal"
                pairs = network.genotype.reduce if cell.reduce else network.genotype.normal
                for j, ((op, src), module) in enumerate(zip(pairs, cell.ops)):  # op j feeds node 2 + j // 2
                    out.append((kind, edge_index(NUM_INPUTS + j // 2, src), OPS.index(op), module))
        return out


SPACE = DARTSSpace  # found by pyronas.spaces.SPACES (and declared in the pyronas.spaces entry points)
