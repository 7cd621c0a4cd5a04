"""The NAS-Bench-201 search space (6 edges x 5 ops, one cell type)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch
from torch import nn

from pyronas.nn import nb201 as nb201_nn  # a module reference: pyronas.nn.nb201 imports the cell notation below
from pyronas.spaces.base import SearchSpace
from pyronas.spaces.nb201_cells import (
    CELL,
    EDGE_NAMES,
    NUM_CELLS,
    OPS,
    canonical,
    format_cell,
    from_ordinal,
    parse_cell,
)


class NB201Space(SearchSpace):
    """NAS-Bench-201: genotypes are NB201 cell strings; derivation is the argmax per edge."""

    name = "nb201"
    ops = OPS
    edge_names = EDGE_NAMES
    cell_types = (CELL,)
    default_cells_per_stage = 5  # the benchmark's N

    def supernet(
        self, *, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10, in_channels: int = 3
    ) -> nn.Module:
        return nb201_nn.NB201Supernet(channels, cells_per_stage, num_classes, in_channels)

    def derive(self, scores: Mapping[str, torch.Tensor]) -> str:
        return format_cell(scores[CELL].argmax(-1).tolist())

    def network(
        self,
        genotype: str,
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> nn.Module:
        return nb201_nn.NB201Network(genotype, channels, cells_per_stage, num_classes, in_channels)

    def validate(self, genotype: str) -> str:
        return canonical(genotype)

    def export(self, supernet: nn.Module, genotype: str, **network) -> nn.Module:
        return nb201_nn.inherited_network(supernet, genotype, **network)

    def one_hot(self, genotype: str) -> dict[str, torch.Tensor]:
        idx = torch.tensor(parse_cell(genotype))
        return {CELL: torch.nn.functional.one_hot(idx, len(OPS)).float()}

    def op_parameters(self, supernet: nn.Module) -> dict[str, list[list[list[nn.Parameter]]]]:
        table = [[[] for _ in OPS] for _ in EDGE_NAMES]
        for cell in supernet.modules():
            if isinstance(cell, nb201_nn.NB201SearchCell):
                for e, mixed in enumerate(cell.edges):
                    for k, op in enumerate(mixed.ops):
                        table[e][k].extend(op.parameters())
        return {CELL: table}

    def chosen_ops(self, network: nn.Module) -> list[tuple[str, int, int, nn.Module]]:
        ops = parse_cell(network.cell)
        return [
            (CELL, e, ops[e], op)
            for cell in network.modules()
            if isinstance(cell, nb201_nn.NB201Cell)
            for e, op in enumerate(cell.edges)
        ]

    def genotypes(self) -> Iterator[str]:
        return (from_ordinal(i) for i in range(NUM_CELLS))


SPACE = NB201Space  # found by pyronas.spaces.SPACES (and declared in the pyronas.spaces entry points)
