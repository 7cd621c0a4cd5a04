"""DARTS genotypes: the cell description printed and parsed in the usual DARTS form (no torch needed).

A cell has two input nodes (0, 1: the outputs of the previous two cells) and four intermediate
nodes 2..5; node ``j`` may take any of the nodes ``0..j-1`` as input, which gives 14 edges in the
order ``2<-0, 2<-1, 3<-0, 3<-1, 3<-2, 4<-0, ...``. A genotype keeps two inputs per intermediate
node, each with one op, and the cell outputs the concatenation of nodes 2..5::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=range(2, 6),
             reduce=[...], reduce_concat=range(2, 6))

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
    [2] X. Chen, L. Xie, J. Wu, Q. Tian. Progressive Differentiable Architecture Search. ICCV 2019.
    [3] Y. Xu et al. PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search. ICLR 2020.
    [4] X. Chen et al. DrNAS: Dirichlet Neural Architecture Search. ICLR 2021.
    [5] X. Dong, Y. Yang. Searching for a Robust Neural Architecture in Four GPU Hours. CVPR 2019.
"""

from __future__ import annotations

import ast
from collections import namedtuple
from collections.abc import Sequence

OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
NUM_INPUTS = 2  # nodes 0 and 1: the previous two cells
NUM_NODES = 4  # intermediate nodes 2..5
EDGES: tuple[tuple[int, int], ...] = tuple(
    (dst, src) for dst in range(NUM_INPUTS, NUM_INPUTS + NUM_NODES) for src in range(dst)
)
EDGE_NAMES: tuple[str, ...] = tuple(f"{dst}<-{src}" for dst, src in EDGES)
CELL_TYPES: tuple[str, ...] = ("normal", "reduce")
CONCAT = range(NUM_INPUTS, NUM_INPUTS + NUM_NODES)

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
Genotype.__doc__ = """A DARTS cell pair: per cell type, 8 ``(op, input node)`` pairs (two per node 2..5) and the
concatenated nodes. ``str(genotype)`` is the usual DARTS text form."""


class GenotypeError(ValueError):
    """A genotype text or value that is not a valid DARTS genotype."""


def edge_index(dst: int, src: int) -> int:
    """Row of edge ``dst<-src`` in the ``[14, K]`` tables."""
    return EDGES.index((dst, src))


def make_genotype(normal: Sequence[tuple[str, int]], reduce: Sequence[tuple[str, int]]) -> Genotype:
    """A validated :class:`Genotype` of two cells' ``(op, input)`` lists; concat is always nodes 2..5."""
    cells = {}
    for cell, pairs in (("normal", normal), ("reduce", reduce)):
        pairs = [tuple(p) for p in pairs]
        if len(pairs) != 2 * NUM_NODES:
            raise GenotypeError(
                f"the {cell} cell needs {2 * NUM_NODES} (op, input) pairs, two per node, got {len(pairs)}"
            )
        for i, pair in enumerate(pairs):
            node = NUM_INPUTS + i // 2
            if len(pair) != 2 or not isinstance(pair[0], str) or type(pair[1]) is not int:
                raise GenotypeError(f"{cell} entry {i} must be an ('op', input) pair, got {pair!r}")
            op, src = pair
            if op not in OPS or op == "none":
                raise GenotypeError(f"unknown DARTS op {op!r} in the {cell} cell; valid ops: {', '.join(OPS[1:])}")
            if not 0 <= src < node:
                raise GenotypeError(
                    f"node {node} of the {cell} cell cannot take input {src}; valid inputs: 0..{node - 1}"
                )
        for node in range(NUM_NODES):
            a, b = pairs[2 * node][1], pairs[2 * node + 1][1]
            if a == b:
                raise GenotypeError(
                    f"node {node + NUM_INPUTS} of the {cell} cell takes input {a} twice; its two inputs must differ"
                )
        cells[cell] = pairs
    return Genotype(cells["normal"], CONCAT, cells["reduce"], CONCAT)


# Published CIFAR-10 cells, copied from the authors' genotype literals (sources beside each).
# fmt: off
# DARTS first order (V1) and second order (V2 = "DARTS") [1]: quark0/darts, cnn/genotypes.py.
DARTS_V1 = make_genotype(
    normal=[
        ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
        ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2),
    ],
    reduce=[
        ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
        ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0),
    ],
)
DARTS_V2 = make_genotype(
    normal=[
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2),
    ],
    reduce=[
        ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
        ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1),
    ],
)
# P-DARTS [2]: chenxin061/pdarts, genotypes.py (PDARTS).
PDARTS = make_genotype(
    normal=[
        ("skip_connect", 0), ("dil_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1), ("sep_conv_3x3", 3), ("sep_conv_3x3", 0), ("dil_conv_5x5", 4),
    ],
    reduce=[
        ("avg_pool_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
        ("max_pool_3x3", 0), ("dil_conv_3x3", 1), ("dil_conv_3x3", 1), ("dil_conv_5x5", 3),
    ],
)
# PC-DARTS [3], searched on CIFAR-10: yuhuixu1993/PC-DARTS, genotypes.py (PC_DARTS_cifar, alias PCDARTS).
PC_DARTS = make_genotype(
    normal=[
        ("sep_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 0), ("dil_conv_3x3", 1),
        ("sep_conv_5x5", 0), ("sep_conv_3x3", 1), ("avg_pool_3x3", 0), ("dil_conv_3x3", 1),
    ],
    reduce=[
        ("sep_conv_5x5", 1), ("max_pool_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 3), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
    ],
)
# DrNAS [4], searched on CIFAR-10: xiangning-chen/DrNAS, DARTS-space/genotypes.py (DrNAS_cifar10).
DRNAS = make_genotype(
    normal=[
        ("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
        ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2), ("dil_conv_5x5", 3),
    ],
    reduce=[
        ("max_pool_3x3", 0), ("sep_conv_5x5", 1), ("dil_conv_5x5", 2), ("sep_conv_5x5", 1),
        ("sep_conv_5x5", 1), ("dil_conv_5x5", 3), ("skip_connect", 4), ("sep_conv_5x5", 1),
    ],
)
# GDAS [5]: D-X-Y/AutoDL-Projects, lib/nas_infer_model/DXYs/genotypes.py (GDAS_V1; xautodl 1.0.0 ships the
# same file as xautodl/nas_infer_model/DXYs/genotypes.py), its per-node pairs flattened.
GDAS_V1 = make_genotype(
    normal=[
        ("skip_connect", 0), ("skip_connect", 1), ("skip_connect", 0), ("sep_conv_5x5", 2),
        ("sep_conv_3x3", 3), ("skip_connect", 0), ("sep_conv_5x5", 4), ("sep_conv_3x3", 3),
    ],
    reduce=[
        ("sep_conv_5x5", 0), ("sep_conv_3x3", 1), ("sep_conv_5x5", 2), ("sep_conv_5x5", 1),
        ("dil_conv_5x5", 2), ("sep_conv_3x3", 1), ("sep_conv_5x5", 0), ("sep_conv_5x5", 1),
    ],
)
# fmt: on
GENOTYPES: dict[str, Genotype] = {
    "DARTS_V1": DARTS_V1,
    "DARTS_V2": DARTS_V2,
    "DARTS": DARTS_V2,  # as in quark0/darts: DARTS = DARTS_V2
    "PDARTS": PDARTS,
    "PC_DARTS": PC_DARTS,
    "PCDARTS": PC_DARTS,  # the name PC-DARTS's train.py uses
    "DrNAS": DRNAS,
    "GDAS_V1": GDAS_V1,
}

_EXAMPLE = "Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6), reduce=[...], reduce_concat=...)"


def _concat(node: ast.expr, field: str) -> None:
    """Check a ``*_concat`` value: ``range(2, 6)`` or ``[2, 3, 4, 5]``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords:
        try:
            values = list(range(*(ast.literal_eval(a) for a in node.args)))
        except (ValueError, TypeError):
            raise GenotypeError(f"{field} must be range(2, 6) or [2, 3, 4, 5]") from None
    else:
        try:
            values = list(ast.literal_eval(node))
        except (ValueError, TypeError, SyntaxError):
            raise GenotypeError(f"{field} must be range(2, 6) or [2, 3, 4, 5]") from None
    if values != list(CONCAT):
        raise GenotypeError(f"{field} must concatenate nodes 2..5 (range(2, 6)), got {values}")


def _pairs(node: ast.expr, field: str) -> list:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        raise GenotypeError(f"{field} must be a list of ('op', input) pairs") from None
    if not isinstance(value, (list, tuple)):
        raise GenotypeError(f"{field} must be a list of ('op', input) pairs, got {type(value).__name__}")
    return list(value)


def parse_genotype(text: str) -> Genotype:
    """The :class:`Genotype` of a text in DARTS form, or of a published name (a :data:`GENOTYPES` key, ``"PDARTS"``).

    The text is parsed, never evaluated; ``*_concat`` may be ``range(2, 6)`` or ``[2, 3, 4, 5]``.
    """
    if isinstance(text, Genotype):
        return make_genotype(text.normal, text.reduce)
    if not isinstance(text, str):
        raise GenotypeError(f"a DARTS genotype must be a string, got {type(text).__name__}")
    text = text.strip()
    if text in GENOTYPES:
        return GENOTYPES[text]
    malformed = f"malformed DARTS genotype {text[:60]!r}; expected {_EXAMPLE} or one of {', '.join(GENOTYPES)}"
    try:
        call = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise GenotypeError(malformed) from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise GenotypeError(malformed)
    if any(k.arg is None for k in call.keywords):
        raise GenotypeError("a DARTS genotype cannot use ** arguments")
    fields = dict(zip(Genotype._fields, call.args))
    for keyword in call.keywords:
        if keyword.arg in fields:
            raise GenotypeError(f"Genotype field {keyword.arg!r} given twice")
        fields[keyword.arg] = keyword.value
    unknown = sorted(set(fields) - set(Genotype._fields))
    missing = [f for f in Genotype._fields if f not in fields]
    if unknown or missing or len(call.args) > len(Genotype._fields):
        raise GenotypeError(
            f"a DARTS genotype has fields {', '.join(Genotype._fields)}; "
            f"missing: {', '.join(missing) or '-'}, unknown: {', '.join(unknown) or '-'}"
        )
    _concat(fields["normal_concat"], "normal_concat")
    _concat(fields["reduce_concat"], "reduce_concat")
    return make_genotype(_pairs(fields["normal"], "normal"), _pairs(fields["reduce"], "reduce"))


def format_genotype(genotype: Genotype) -> str:
    """The usual DARTS text of a genotype (``str`` of the namedtuple with ``range(2, 6)`` concats)."""
    genotype = make_genotype(genotype.normal, genotype.reduce)
    return str(genotype)
