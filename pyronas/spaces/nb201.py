"""The NAS-Bench-201 search space (6 edges x 5 ops, one cell type)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from pyronas.nn.nb201 import CELL, NB201Network, NB201Supernet
from pyronas.spaces.base import SearchSpace
from pyronas.spaces.nb201_cells import EDGE_NAMES, OPS, canonical, format_cell, parse_cell


class NB201Space(SearchSpace):
    """NAS-Bench-201: genotypes are NB201 cell strings; derivation is the argmax per edge."""

    name = "nb201"
    ops = OPS
    edge_names = EDGE_NAMES
    cell_types = (CELL,)

    def supernet(
        self, *, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10, in_channels: int = 3
    ) -> nn.Module:
        return NB201Supernet(channels, cells_per_stage, num_classes, in_channels)

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
        return NB201Network(genotype, channels, cells_per_stage, num_classes, in_channels)

    def validate(self, genotype: str) -> str:
        return canonical(genotype)

    def one_hot(self, genotype: str) -> dict[str, torch.Tensor]:
        idx = torch.tensor(parse_cell(genotype))
        return {CELL: torch.nn.functional.one_hot(idx, len(OPS)).float()}
