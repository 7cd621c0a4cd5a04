"""NAS-Bench-201 networks: the standalone network of one cell and the weight-sharing supernet.

Both share the macro skeleton of [1]: stem conv3x3 + BN; N cells at C channels; a residual
reduction block to 2C; N cells; a block to 4C; N cells; BN, ReLU, global average pool, linear.
In the supernet every edge holds all candidate ops with ``affine=False`` BatchNorm and mixes
them with per-edge weights ``[E, K]``.

References:
    [1] X. Dong, Y. Yang. NAS-Bench-201. ICLR 2020.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from pyronas.nn.export import load_inherited
from pyronas.nn.ops import ResNetBlock, Zero, nb201_op
from pyronas.nn.partial import check_partial_channels, partial_forward, widen_module, widen_tensor
from pyronas.nn.single_path import Path, draw_paths, edge_output
from pyronas.spaces.nb201_cells import CELL, EDGES, OPS, parse_cell


class _Skeleton(nn.Module):
    """Stem, three stages of ``cells_per_stage`` cells with reduction blocks, and a classifier."""

    def __init__(
        self,
        make_cell: Callable[[int], nn.Module],
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        in_channels: int,
    ):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers, c = [], channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBlock(c, 2 * c))
                c *= 2
            layers.extend(make_cell(c) for _ in range(cells_per_stage))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.lastact(x)).flatten(1))


class NB201Cell(nn.Module):
    """A fixed NB201 cell: one op per edge, node ``i`` sums its incoming edges."""

    def __init__(self, op_names: Sequence[str], channels: int):
        super().__init__()
        self.edges = nn.ModuleList(nb201_op(name, channels) for name in op_names)
        self.targets = [dst for dst, _ in EDGES]  # plain lists of ints, so that torch.jit.script compiles forward
        self.sources = [src for _, src in EDGES]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in range(1, 4):
            out, first = x, True
            for e, edge in enumerate(self.edges):  # edges in EDGES order: the same sums as sum(...) over them
                if self.targets[e] == dst:
                    h = edge(nodes[self.sources[e]])
                    out, first = (h if first else out + h), False
            nodes.append(out)
        return nodes[-1]


class NB201Network(_Skeleton):
    """Standalone (evaluation) network of one NB201 cell string; BatchNorm is affine.

    Args:
        cell: NB201 cell string.
        channels: C, channels of the first stage (16 in the benchmark).
        cells_per_stage: N (5 in the benchmark).
    """

    def __init__(
        self, cell: str, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10, in_channels: int = 3
    ):
        op_names = [OPS[i] for i in parse_cell(cell)]
        super().__init__(lambda c: NB201Cell(op_names, c), channels, cells_per_stage, num_classes, in_channels)
        self.cell = cell

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x)
        return self._head(x)


class MixedOp(nn.Module):
    """All candidate ops of one edge, mixed as ``sum_k w[k] * op_k(x)``.

    ``none`` and pruned ops are never computed: their output is zero whatever their weight. With
    ``partial_channels = K > 1`` the ops are built for ``C / K`` channels and only the first
    ``C / K`` input channels go through them (:func:`~pyronas.nn.partial.partial_forward`).
    """

    def __init__(self, channels: int, op_names: Sequence[str] = OPS, partial_channels: int = 1):
        super().__init__()
        check_partial_channels(channels, partial_channels)
        self.channels, self.op_names, self.partial_channels = channels, tuple(op_names), partial_channels
        self.ops = nn.ModuleList(nb201_op(name, channels // partial_channels, affine=False) for name in op_names)
        self._active = [k for k, op in enumerate(self.ops) if not isinstance(op, Zero)]

    def _mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = None
        for k in self._active:
            term = weights[k] * self.ops[k](x)
            out = term if out is None else out + term
        return x.mul(0.0) if out is None else out

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return partial_forward(x, self.partial_channels, lambda part: self._mix(part, weights))

    def single(self, x: torch.Tensor, op: int, scale: torch.Tensor) -> torch.Tensor:
        """``scale * op_k(x)`` for the one op ``k = op`` (single-path sampling, :mod:`pyronas.nn.single_path`)."""
        if op not in self._active:
            return partial_forward(x, self.partial_channels, lambda part: part.mul(0.0))
        return partial_forward(x, self.partial_channels, lambda part: scale * self.ops[op](part))

    def prune(self, keep: Sequence[bool]) -> None:
        """Replace each op with ``keep[k]`` false by ``none``: no longer computed, no parameters."""
        if len(keep) != len(self.ops):
            raise ValueError(f"keep needs one flag per op ({len(self.ops)}), got {len(keep)}")
        for k, kept in enumerate(keep):
            if not kept:
                self.ops[k] = Zero()
        self._active = [k for k, op in enumerate(self.ops) if not isinstance(op, Zero)]

    def set_partial_channels(self, partial_channels: int) -> None:
        """Rebuild the computed ops for ``C / partial_channels`` channels.

        When the old ``K`` is a multiple of the new one, the trained ops are widened by replicating
        their channels (:func:`~pyronas.nn.partial.widen_tensor`); otherwise they are re-initialised.
        """
        check_partial_channels(self.channels, partial_channels)
        old = self.partial_channels
        if partial_channels == old:
            return
        width, widen = self.channels // partial_channels, old % partial_channels == 0
        for k in self._active:
            new = nb201_op(self.op_names[k], width, affine=False)
            self.ops[k] = widen_module(self.ops[k], new, old // partial_channels) if widen else new
        self.partial_channels = partial_channels


class NB201SearchCell(nn.Module):
    """Supernet cell: a :class:`MixedOp` on each of the 6 edges."""

    def __init__(self, channels: int, partial_channels: int = 1):
        super().__init__()
        self.edges = nn.ModuleList(MixedOp(channels, partial_channels=partial_channels) for _ in EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, path: Path | None = None) -> torch.Tensor:
        """Mix every op of each edge by ``weights [6, 5]``, or compute only the ops of ``path``."""

        def edge(e: int, h: torch.Tensor) -> torch.Tensor:
            return edge_output(self.edges[e], h, weights, e, path)

        nodes = [x]
        for dst in range(1, 4):
            nodes.append(sum(edge(e, nodes[src]) for e, (d, src) in enumerate(EDGES) if d == dst))
        return nodes[-1]


class NB201Supernet(_Skeleton):
    """Weight-sharing NB201 supernet.

    ``forward(images [B, C_in, H, W], weights)`` returns logits ``[B, num_classes]``, where
    ``weights`` is a ``[6, 5]`` tensor of per-edge op mixing weights (rows in edge order, columns
    in :data:`~pyronas.spaces.nb201_cells.OPS` order) or a mapping ``{"cell": tensor}``.
    ``partial_channels = K`` sends ``1 / K`` of each edge's channels through its mixed op (PC-DARTS);
    :meth:`prune` and :meth:`set_partial_channels` change the supernet between search stages.
    With ``single_path`` set, each search cell computes one sampled op per edge in training mode
    (:mod:`pyronas.nn.single_path`); in eval mode every op is mixed.
    """

    single_path: bool = False

    cell_types = (CELL,)

    def __init__(
        self,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        partial_channels: int = 1,
    ):
        check_partial_channels(channels, partial_channels)
        super().__init__(
            lambda c: NB201SearchCell(c, partial_channels), channels, cells_per_stage, num_classes, in_channels
        )
        self.partial_channels = partial_channels

    def mixed_ops(self) -> list[list[MixedOp]]:
        """The mixed ops of every search cell, ``[cell][edge]``."""
        return [list(layer.edges) for layer in self.cells if isinstance(layer, NB201SearchCell)]

    def prune(self, keep: torch.Tensor | Mapping[str, torch.Tensor]) -> None:
        """Stop computing the ops with ``keep[e, k]`` false (bool ``[6, 5]`` or ``{"cell": tensor}``) in every cell."""
        if isinstance(keep, Mapping):
            keep = keep[CELL]
        if keep.shape != (len(EDGES), len(OPS)) or keep.dtype != torch.bool:
            raise ValueError(f"keep must be a bool tensor of shape [6, 5], got {keep.dtype} {list(keep.shape)}")
        rows = keep.tolist()
        for edges in self.mixed_ops():
            for op, row in zip(edges, rows):
                op.prune(row)

    def set_partial_channels(self, partial_channels: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """Rebuild every mixed op for ``C / partial_channels`` channels (see :meth:`MixedOp.set_partial_channels`).

        Returns the map that carries a replaced parameter's optimizer state (e.g. SGD momentum) to
        the new shape, the same one the weights went through, or ``None`` if the ops were re-initialised.
        """
        old = self.partial_channels
        for edges in self.mixed_ops():
            for op in edges:
                op.set_partial_channels(partial_channels)
        self.partial_channels = partial_channels
        if old == partial_channels or old % partial_channels:
            return None
        factor = old // partial_channels
        return lambda state: widen_tensor(state, factor)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
        if isinstance(weights, Mapping):
            weights = weights[CELL]
        if weights.shape != (len(EDGES), len(OPS)):
            raise ValueError(f"NB201 mixing weights must have shape [6, 5], got {list(weights.shape)}")
        x = self.stem(x)
        paths = iter(draw_paths(weights, len(self.mixed_ops())) if self.single_path and self.training else [])
        for layer in self.cells:
            x = layer(x, weights, next(paths, None)) if isinstance(layer, NB201SearchCell) else layer(x)
        return self._head(x)


def inherited_network(supernet: NB201Supernet, cell: str) -> NB201Network:
    """The :class:`NB201Network` of ``cell`` at ``supernet``'s size, carrying its weights of the cell's ops.

    Edge ``e`` of every cell takes the supernet's op ``k = cell[e]`` there (``cells.i.edges.e.ops.k.*``);
    the rest (stem, reduction blocks, head) keeps its keys. Use :func:`pyronas.nn.export.inherit`.
    """
    if supernet.partial_channels != 1:
        raise ValueError(f"cannot inherit from a supernet with partial_channels={supernet.partial_channels}; "
                         "set_partial_channels(1) first")  # fmt: skip
    stem = supernet.stem[0]
    cells_per_stage = next(i for i, layer in enumerate(supernet.cells) if isinstance(layer, ResNetBlock))
    net = NB201Network(cell, stem.out_channels, cells_per_stage, supernet.classifier.out_features, stem.in_channels)
    chosen = parse_cell(cell)

    def source(key: str) -> str:
        parts = key.split(".")
        if parts[0] == "cells" and parts[2] == "edges":
            return ".".join([*parts[:4], "ops", str(chosen[int(parts[3])]), *parts[4:]])
        return key

    return load_inherited(net, supernet.state_dict(), source)
