import json

import pytest
import torch

from pyronas.api import search
from pyronas.cli import main
from pyronas.spaces import SPACES, GenotypeError, get_space
from pyronas.spaces.darts_genotype import DARTS_V1, DARTS_V2, EDGE_NAMES, OPS, Genotype, edge_index, parse_genotype

PUBLISHED_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


@pytest.fixture
def space():
    return get_space("darts")


def test_ops_edges_and_shapes(space):
    assert "darts" in SPACES and space.name == "darts"
    assert space.ops == (
        "none",
        "max_pool_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
    )
    assert len(space.edge_names) == 14
    assert space.edge_names[:5] == ("2<-0", "2<-1", "3<-0", "3<-1", "3<-2") and space.edge_names[-1] == "5<-4"
    assert space.cell_types == ("normal", "reduce")
    assert space.arch_shape == {"normal": (14, 8), "reduce": (14, 8)}
    assert space.default_cells_per_stage == 2 and get_space("nb201").default_cells_per_stage == 5


def test_published_genotypes_print_in_darts_form_and_round_trip(space):
    text = str(DARTS_V2)
    assert text.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0),")
    assert "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0)" in text and text.endswith(
        "reduce_concat=range(2, 6))"
    )
    assert parse_genotype(text) == DARTS_V2 and str(parse_genotype(str(DARTS_V1))) == str(DARTS_V1)
    assert parse_genotype(PUBLISHED_V2) == DARTS_V2  # the list form of the concat, as published
    assert space.validate(PUBLISHED_V2) == text == space.validate("DARTS_V2")
    assert DARTS_V1 != DARTS_V2 and isinstance(DARTS_V2, Genotype)


@pytest.mark.parametrize(
    "text, message",
    [
        ("not a genotype", "malformed DARTS genotype"),
        ("__import__('os').getcwd()", "malformed DARTS genotype"),
        (PUBLISHED_V2.replace("dil_conv_3x3", "conv_7x7"), "unknown DARTS op 'conv_7x7'"),
        (
            PUBLISHED_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"),
            "node 5 of the normal cell cannot take input 5",
        ),
        (PUBLISHED_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 0)"), "takes input 0 twice"),
        (PUBLISHED_V2.replace("('dil_conv_3x3', 2)", "('none', 2)"), "unknown DARTS op 'none'"),
        (PUBLISHED_V2.replace(", ('dil_conv_3x3', 2)]", "]"), r"needs 8 \(op, input\) pairs"),
        (PUBLISHED_V2.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[2, 3]"), "reduce_concat must"),
        (PUBLISHED_V2.replace("reduce_concat", "output"), "missing: reduce_concat, unknown: output"),
    ],
)
def test_bad_genotype_text_is_a_clear_one_line_error(space, text, message):
    with pytest.raises(GenotypeError, match=message) as info:
        space.validate(text)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_one_hot_selects_exactly_the_genotype(space):
    weights = space.one_hot(DARTS_V2)
    assert set(weights) == {"normal", "reduce"}
    for cell, pairs in (("normal", DARTS_V2.normal), ("reduce", DARTS_V2.reduce)):
        w = weights[cell]
        assert w.shape == (14, 8) and w.sum() == 8 and set(w.unique().tolist()) == {0.0, 1.0}
        for k, (op, src) in enumerate(pairs):
            assert w[edge_index(2 + k // 2, src), OPS.index(op)] == 1
    assert weights["normal"][EDGE_NAMES.index("5<-2"), OPS.index("dil_conv_3x3")] == 1
    assert weights["reduce"][:, OPS.index("sep_conv_3x3")].sum() == 0


def test_derive_of_one_hot_recovers_the_genotype_up_to_order_within_nodes(space):
    derived = parse_genotype(space.derive(space.one_hot(DARTS_V1)))
    for ours, theirs in ((derived.normal, DARTS_V1.normal), (derived.reduce, DARTS_V1.reduce)):
        for node in range(4):
            assert set(ours[2 * node : 2 * node + 2]) == set(theirs[2 * node : 2 * node + 2])


def test_derive_keeps_top_two_edges_by_strongest_non_none_op(space):
    scores = torch.zeros(14, 8)
    scores[:, OPS.index("none")] = 10.0  # `none` dominates everywhere and must never count
    row = {name: i for i, name in enumerate(EDGE_NAMES)}
    scores[row["2<-1"], OPS.index("sep_conv_5x5")] = 0.9
    scores[row["2<-0"], OPS.index("max_pool_3x3")] = 0.5
    scores[row["3<-2"], OPS.index("dil_conv_3x3")] = 0.7
    scores[row["3<-0"], OPS.index("skip_connect")] = 0.6
    scores[row["3<-1"], OPS.index("avg_pool_3x3")] = 0.59
    # node 4: input 3 has the largest single op; input 0 beats input 1 although input 1's ops sum to more
    scores[row["4<-3"], OPS.index("sep_conv_3x3")] = 0.8
    scores[row["4<-0"], OPS.index("dil_conv_5x5")] = 0.4
    scores[row["4<-1"], 1:] = 0.3
    # node 5: all ties -> the lower inputs, with the first non-`none` op
    genotype = parse_genotype(space.derive({"normal": scores, "reduce": scores.flip(0)}))
    assert genotype.normal == [
        ("sep_conv_5x5", 1),
        ("max_pool_3x3", 0),
        ("dil_conv_3x3", 2),
        ("skip_connect", 0),
        ("sep_conv_3x3", 3),
        ("dil_conv_5x5", 0),
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
    ]
    assert all(op != "none" for op, _ in genotype.reduce)


def test_derive_rejects_wrong_shapes(space):
    with pytest.raises(ValueError, match=r"\[14, 8\]"):
        space.derive({"normal": torch.zeros(6, 5), "reduce": torch.zeros(14, 8)})


def test_search_rejects_the_nb201_table_for_darts():
    with pytest.raises(ValueError, match="the NB201 table only looks up nb201 cells"):
        search("darts", space="darts", benchmark="nb201_accuracy.csv")


def test_cli_search_on_darts_space_writes_a_valid_genotype(tmp_path, capsys, space):
    out = tmp_path / "run"
    args = ["search", "--space", "darts", "--method", "darts", "--quiet", "--epochs", "1"]
    args += ["--cells-per-stage", "1", "--channels", "4", "--train-size", "32", "--batch-size", "16", "--out", str(out)]
    assert main(args) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["space"] == "darts" and result["benchmark"] is None
    assert space.validate(result["genotype"]) == result["genotype"]
    assert set(result["op_probabilities"]) == {"normal", "reduce"}
    assert list(result["op_probabilities"]["reduce"]) == list(EDGE_NAMES)
    assert result["genotype"] in capsys.readouterr().out
