"""DARTS networks: the weight-sharing search supernet and the evaluation network of one genotype.

Both stack ``3 N + 2`` cells after a stem (3x3 conv to ``3 C`` channels + BN); the cells at 1/3 and
2/3 of the depth are reduction cells (stride 2, channels doubled). A cell takes the outputs of the
previous two cells, brings them to ``C`` channels, computes four nodes (each a sum over its
incoming edges) and outputs their concatenation (``4 C`` channels). A global average pool and a
linear layer classify the last cell's output. In the supernet every edge mixes all candidate ops
with ``affine=False`` BatchNorm; the evaluation network keeps the genotype's two edges per node,
with affine BatchNorm, drop-path and an optional auxiliary head.

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pyronas.nn.darts_ops import darts_op, drop_path, preprocess
from pyronas.nn.export import load_inherited
from pyronas.nn.ops import Zero
from pyronas.nn.single_path import Path, draw_paths, edge_output
from pyronas.spaces.darts_genotype import CELL_TYPES, EDGES, NUM_INPUTS, NUM_NODES, OPS, Genotype, edge_index

STEM_MULTIPLIER = 3


def reduction_layers(num_cells: int) -> tuple[int, int]:
    """Positions of the two reduction cells: 1/3 and 2/3 of the depth."""
    return num_cells // 3, 2 * num_cells // 3


class _Stack(nn.Module):
    """Stem and ``3 N + 2`` cells built by ``make_cell(c_prev_prev, c_prev, c, reduce, reduce_prev)``."""

    def __init__(
        self, make_cell: Callable[..., nn.Module], channels: int, cells_per_stage: int, in_channels: int
    ) -> None:
        super().__init__()
        if cells_per_stage < 1 or channels < 1:
            raise ValueError(f"channels and cells_per_stage must be >= 1, got {channels} and {cells_per_stage}")
        num_cells = 3 * cells_per_stage + 2
        c = STEM_MULTIPLIER * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        c_prev_prev, c_prev, c = c, c, channels
        reduce_prev = False
        cells = []
        self.reductions = reduction_layers(num_cells)
        self.cell_channels: list[int] = []  # output channels of each cell
        for i in range(num_cells):
            reduce = i in self.reductions
            c = 2 * c if reduce else c
            cells.append(make_cell(c_prev_prev, c_prev, c, reduce, reduce_prev))
            reduce_prev = reduce
            c_prev_prev, c_prev = c_prev, NUM_NODES * c
            self.cell_channels.append(c_prev)
        self.cells = nn.ModuleList(cells)
        self.pool = nn.AdaptiveAvgPool2d(1)


class MixedOp(nn.Module):
    """All candidate ops of one edge, ``sum_k w[k] * op_k(x)``; pools are followed by ``BN(affine=False)``.

    ``none`` is never computed (its output is zero whatever its weight); weights need not sum to 1.
    """

    def __init__(self, channels: int, stride: int, op_names: Sequence[str] = OPS):
        super().__init__()
        ops = []
        for name in op_names:
            op = darts_op(name, channels, stride, affine=False)
            ops.append(nn.Sequential(op, nn.BatchNorm2d(channels, affine=False)) if "pool" in name else op)
        self.ops = nn.ModuleList(ops)
        self._active = [k for k, op in enumerate(self.ops) if not isinstance(op, Zero)]
        self.stride = stride

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = None
        for k in self._active:
            term = weights[k] * self.ops[k](x)
            out = term if out is None else out + term
        return Zero(self.stride)(x) if out is None else out

    def single(self, x: torch.Tensor, op: int, scale: torch.Tensor) -> torch.Tensor:
        """``scale * op_k(x)`` for the one op ``k = op`` (single-path sampling, :mod:`pyronas.nn.single_path`)."""
        return scale * self.ops[op](x) if op in self._active else Zero(self.stride)(x)


class SearchCell(nn.Module):
    """Supernet cell: a :class:`MixedOp` on each of the 14 edges (stride 2 on inputs 0, 1 of a reduction cell)."""

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, reduce: bool, reduce_prev: bool):
        super().__init__()
        self.reduce = reduce
        self.preprocess0 = preprocess(c_prev_prev, channels, reduce_prev, affine=False)
        self.preprocess1 = preprocess(c_prev, channels, False, affine=False)
        self.edges = nn.ModuleList(MixedOp(channels, 2 if reduce and src < NUM_INPUTS else 1) for _, src in EDGES)

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor, path: Path | None = None
    ) -> torch.Tensor:
        """Mix every op of each edge by ``weights [14, 8]``, or compute only the ops of ``path``."""

        def edge(e: int, h: torch.Tensor) -> torch.Tensor:
            return edge_output(self.edges[e], h, weights, e, path)

        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for dst in range(NUM_INPUTS, NUM_INPUTS + NUM_NODES):
            first = edge_index(dst, 0)  # a node's incoming edges are consecutive rows
            states.append(sum(edge(first + src, h) for src, h in enumerate(states)))
        return torch.cat(states[NUM_INPUTS:], dim=1)


class DARTSSupernet(_Stack):
    """Weight-sharing DARTS supernet (8 cells at ``cells_per_stage=2``, C=16 in [1]).

    ``forward(images [B, C_in, H, W], {"normal": [14, 8], "reduce": [14, 8]})`` returns logits
    ``[B, num_classes]``; rows are edges in :data:`~pyronas.spaces.darts_genotype.EDGES` order,
    columns ops in :data:`~pyronas.spaces.darts_genotype.OPS` order. With ``single_path`` set, each
    search cell computes one sampled op per edge in training mode (:mod:`pyronas.nn.single_path`).
    """

    cell_types = CELL_TYPES
    single_path: bool = False

    def __init__(self, channels: int = 16, cells_per_stage: int = 2, num_classes: int = 10, in_channels: int = 3):
        super().__init__(SearchCell, channels, cells_per_stage, in_channels)
        self.classifier = nn.Linear(self.cell_channels[-1], num_classes)

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        shape = (len(EDGES), len(OPS))
        if not isinstance(weights, Mapping) or set(weights) != set(CELL_TYPES):
            raise ValueError('DARTS mixing weights must be a mapping {"normal": [14, 8], "reduce": [14, 8]}')
        for cell, w in weights.items():
            if tuple(w.shape) != shape:
                raise ValueError(
                    f"DARTS mixing weights of the {cell} cell must have shape [14, 8], got {list(w.shape)}"
                )
        paths = {cell: iter(()) for cell in CELL_TYPES}
        if self.single_path and self.training:
            counts = {"normal": len(self.cells) - len(self.reductions), "reduce": len(self.reductions)}
            paths = {cell: iter(draw_paths(weights[cell], n)) for cell, n in counts.items()}
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            kind = "reduce" if cell.reduce else "normal"
            s0, s1 = s1, cell(s0, s1, weights[kind], next(paths[kind], None))
        return self.classifier(self.pool(s1).flatten(1))


class Cell(nn.Module):
    """Evaluation cell of a genotype: each node sums two ops on its two chosen inputs.

    In training, ``drop_prob`` drops whole samples of every non-identity op's output (drop-path).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str, int]],
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduce: bool,
        reduce_prev: bool,
    ):
        super().__init__()
        self.reduce = reduce
        self.preprocess0 = preprocess(c_prev_prev, channels, reduce_prev, affine=True)
        self.preprocess1 = preprocess(c_prev, channels, False, affine=True)
        self.inputs = [src for _, src in pairs]
        self.ops = nn.ModuleList(
            darts_op(name, channels, 2 if reduce and src < NUM_INPUTS else 1) for name, src in pairs
        )
        self.identity = [isinstance(op, nn.Identity) for op in self.ops]  # plain lists: torch.jit.script compiles
        self.num_inputs = NUM_INPUTS

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        out = s0
        for k, op in enumerate(self.ops):  # ops 2n and 2n + 1 feed node n, computed in that order
            h = op(states[self.inputs[k]])
            if self.training and drop_prob > 0 and not self.identity[k]:
                h = drop_path(h, drop_prob)
            if k % 2 == 0:
                out = h
            else:
                states.append(out + h)
        return torch.cat(states[self.num_inputs :], dim=1)


class AuxiliaryHead(nn.Module):
    """Auxiliary classifier of [1] on the 2/3-depth features (8x8 on CIFAR).

    ReLU, 5x5 average pool with stride 3 (adaptive pooling to 2x2 on maps other than 8x8), 1x1 conv
    to 128 + BN + ReLU, 2x2 conv to 768 + BN + ReLU, linear.
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        if x.shape[-2] == 8 and x.shape[-1] == 8:
            x = F.avg_pool2d(x, 5, stride=3, count_include_pad=False)
        else:
            x = F.adaptive_avg_pool2d(x, 2)
        return self.classifier(self.features(x).flatten(1))


class DARTSNetwork(_Stack):
    """Evaluation network of a DARTS genotype (20 cells at ``cells_per_stage=6``, C=36 in [1]).

    ``forward(images)`` returns logits ``[B, num_classes]``, or ``(logits, aux_logits)`` in training
    mode when built with ``auxiliary=True``. ``drop_path`` (settable attribute) is the drop-path
    probability applied in training; the trainer ramps it over epochs. Parameters of the auxiliary
    head are named ``auxiliary_head.*``.
    """

    def __init__(
        self,
        genotype: Genotype,
        channels: int = 36,
        cells_per_stage: int = 6,
        num_classes: int = 10,
        in_channels: int = 3,
        *,
        auxiliary: bool = False,
        drop_path: float = 0.0,
    ):
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(f"drop_path must lie in [0, 1), got {drop_path}")

        def make_cell(c_pp: int, c_p: int, c: int, reduce: bool, reduce_prev: bool) -> Cell:
            return Cell(genotype.reduce if reduce else genotype.normal, c_pp, c_p, c, reduce, reduce_prev)

        super().__init__(make_cell, channels, cells_per_stage, in_channels)
        self.genotype = genotype
        self.drop_path = drop_path
        self.auxiliary_at = self.reductions[1]  # the head reads the output of the second reduction cell
        self.auxiliary_head = AuxiliaryHead(self.cell_channels[self.auxiliary_at], num_classes) if auxiliary else None
        self.classifier = nn.Linear(self.cell_channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s0 = s1 = self.stem(x)
        aux_logits = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path)
            if i == self.auxiliary_at and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        logits = self.classifier(self.pool(s1).flatten(1))
        return logits if aux_logits is None else (logits, aux_logits)


def inherited_network(
    supernet: DARTSSupernet, genotype: Genotype, *, auxiliary: bool = False, drop_path: float = 0.0
) -> DARTSNetwork:
    """The :class:`DARTSNetwork` of ``genotype`` at ``supernet``'s size, carrying its weights of the genotype's ops.

    Op ``j`` of a cell takes the supernet's op of its edge (``cells.i.edges.e.ops.k.*``); preprocessing, stem
    and classifier keep their keys; an auxiliary head starts fresh. The supernet's BatchNorm after each pool
    has no counterpart in the network (pools carry none there), so cells with pools compute another function
    than the supernet restricted to them. Use :func:`pyronas.nn.export.inherit`.
    """
    stem = supernet.stem[0]
    channels, cells_per_stage = stem.out_channels // STEM_MULTIPLIER, (len(supernet.cells) - 2) // 3
    net = DARTSNetwork(genotype, channels, cells_per_stage, supernet.classifier.out_features, stem.in_channels,
                       auxiliary=auxiliary, drop_path=drop_path)  # fmt: skip

    def source(key: str) -> str:
        parts = key.split(".")
        if parts[0] == "cells" and parts[2] == "ops":
            j = int(parts[3])
            op, src = (genotype.reduce if net.cells[int(parts[1])].reduce else genotype.normal)[j]
            edge = edge_index(NUM_INPUTS + j // 2, src)
            return ".".join([*parts[:2], "edges", str(edge), "ops", str(OPS.index(op)), *parts[4:]])
        return key

    return load_inherited(net, supernet.state_dict(), source, fresh=lambda key: key.startswith("auxiliary_head."))
