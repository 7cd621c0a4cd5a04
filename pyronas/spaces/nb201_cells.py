"""NAS-Bench-201 cells as strings and op indices (no torch needed).

A cell has 4 nodes and 6 edges, ordered ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``; node ``i``
sums its incoming edges and the cell outputs node 3. The string form is
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, with ops taken from :data:`OPS`.

References:
    [1] X. Dong, Y. Yang. NAS-Bench-201: Extending the Scope of Reproducible Neural
        Architecture Search. ICLR 2020.
"""

from __future__ import annotations

from collections.abc import Sequence

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
EDGE_NAMES: tuple[str, ...] = tuple(f"{dst}<-{src}" for dst, src in EDGES)
CELL = "cell"  # the one cell type of NB201
NUM_NODES = 4
NUM_CELLS = len(OPS) ** len(EDGES)  # 15,625


class CellStringError(ValueError):
    """A cell string or op-index sequence that is not a valid NAS-Bench-201 cell."""


def parse_cell(cell: str) -> tuple[int, ...]:
    """Op indices (one per edge, in :data:`EDGES` order) of a NAS-Bench-201 cell string."""
    if not isinstance(cell, str):
        raise CellStringError(f"a NB201 cell must be a string, got {type(cell).__name__}")
    nodes = cell.strip().split("+")
    if len(nodes) != NUM_NODES - 1:
        raise CellStringError(
            f"malformed NB201 cell {cell!r}: expected 3 nodes joined by '+', "
            "like |nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|"
        )
    indices = []
    for dst, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise CellStringError(f"malformed NB201 cell {cell!r}: node {dst} must be wrapped in '|'")
        entries = node[1:-1].split("|")
        if len(entries) != dst:
            raise CellStringError(f"malformed NB201 cell {cell!r}: node {dst} needs {dst} inputs, got {len(entries)}")
        for src, entry in enumerate(entries):
            op, sep, inp = entry.partition("~")
            if not sep or inp != str(src):
                raise CellStringError(
                    f"malformed NB201 cell {cell!r}: expected 'op~{src}' for node {dst}, got {entry!r}"
                )
            if op not in OPS:
                raise CellStringError(f"unknown NB201 op {op!r} in {cell!r}; valid ops: {', '.join(OPS)}")
            indices.append(OPS.index(op))
    return tuple(indices)


def format_cell(op_indices: Sequence[int]) -> str:
    """NAS-Bench-201 cell string of op indices given in :data:`EDGES` order."""
    op_indices = [int(i) for i in op_indices]
    if len(op_indices) != len(EDGES):
        raise CellStringError(f"a NB201 cell has {len(EDGES)} edges, got {len(op_indices)} op indices")
    if any(not 0 <= i < len(OPS) for i in op_indices):
        raise CellStringError(f"NB201 op indices must lie in 0..{len(OPS) - 1}, got {op_indices}")
    nodes, pos = [], 0
    for dst in range(1, NUM_NODES):
        nodes.append("|" + "|".join(f"{OPS[op_indices[pos + s]]}~{s}" for s in range(dst)) + "|")
        pos += dst
    return "+".join(nodes)


def cell_ops(cell: str) -> tuple[str, ...]:
    """Op names per edge of a cell string, in :data:`EDGES` order."""
    return tuple(OPS[i] for i in parse_cell(cell))


def canonical(cell: str) -> str:
    """The cell string rewritten in canonical form (validates it on the way)."""
    return format_cell(parse_cell(cell))


def ordinal(cell: str) -> int:
    """Position of a cell in base-5 enumeration (edge 0 most significant), in ``0..15624``.

    This is *not* the benchmark's own index; :class:`pyronas.benchmarks.NB201Table` maps cells
    to benchmark indices.
    """
    value = 0
    for i in parse_cell(cell):
        value = value * len(OPS) + i
    return value


def from_ordinal(value: int) -> str:
    """Inverse of :func:`ordinal`."""
    if not 0 <= int(value) < NUM_CELLS:
        raise CellStringError(f"NB201 ordinal must lie in 0..{NUM_CELLS - 1}, got {value}")
    digits = []
    value = int(value)
    for _ in EDGES:
        value, digit = divmod(value, len(OPS))
        digits.append(digit)
    return format_cell(digits[::-1])
