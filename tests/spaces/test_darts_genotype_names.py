"""Published DARTS-space cells by name: each name gives the literal its authors published."""

import pytest

from pyronas.spaces.darts_genotype import GENOTYPES, GenotypeError, format_genotype, make_genotype, parse_genotype

# The literals as printed in the authors' repositories (repo, file, variable), concat in their own form.
PUBLISHED = {
    # quark0/darts, cnn/genotypes.py: DARTS = DARTS_V2
    "DARTS": "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
    # quark0/darts, cnn/genotypes.py: DARTS_V1
    "DARTS_V1": "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])",
    # chenxin061/pdarts, genotypes.py: PDARTS
    "PDARTS": "Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0),('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3',0), ('dil_conv_5x5', 4)], normal_concat=range(2, 6), "
    "reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 2), ('max_pool_3x3', 0), "
    "('dil_conv_3x3', 1), ('dil_conv_3x3', 1), ('dil_conv_5x5', 3)], reduce_concat=range(2, 6))",
    # yuhuixu1993/PC-DARTS, genotypes.py: PC_DARTS_cifar (PCDARTS = PC_DARTS_cifar)
    "PC_DARTS": "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
    "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), "
    "reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))",
    # xiangning-chen/DrNAS, DARTS-space/genotypes.py: DrNAS_cifar10
    "DrNAS": "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), ('dil_conv_5x5', 3)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 2), ('sep_conv_5x5', 1), ('sep_conv_5x5', 1), "
    "('dil_conv_5x5', 3), ('skip_connect', 4), ('sep_conv_5x5', 1)], reduce_concat=range(2, 6))",
}
PUBLISHED["DARTS_V2"] = PUBLISHED["DARTS"]
PUBLISHED["PCDARTS"] = PUBLISHED["PC_DARTS"]

# D-X-Y/AutoDL-Projects, lib/nas_infer_model/DXYs/genotypes.py: GDAS_V1, one pair of (op, input) per node.
GDAS_V1_NODES = {
    "normal": [
        (("skip_connect", 0), ("skip_connect", 1)),
        (("skip_connect", 0), ("sep_conv_5x5", 2)),
        (("sep_conv_3x3", 3), ("skip_connect", 0)),
        (("sep_conv_5x5", 4), ("sep_conv_3x3", 3)),
    ],
    "reduce": [
        (("sep_conv_5x5", 0), ("sep_conv_3x3", 1)),
        (("sep_conv_5x5", 2), ("sep_conv_5x5", 1)),
        (("dil_conv_5x5", 2), ("sep_conv_3x3", 1)),
        (("sep_conv_5x5", 0), ("sep_conv_5x5", 1)),
    ],
}


def _flat(nodes):
    return [pair for node in nodes for pair in node]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_name_gives_the_published_literal(name):
    assert parse_genotype(name) == parse_genotype(PUBLISHED[name])
    assert parse_genotype(f"  {name}\n") == parse_genotype(name)  # names are read like texts, stripped


def test_gdas_v1_is_its_nodes_flattened():
    expected = make_genotype(_flat(GDAS_V1_NODES["normal"]), _flat(GDAS_V1_NODES["reduce"]))
    assert parse_genotype("GDAS_V1") == expected


def test_every_name_is_tested_and_the_cells_differ():
    assert set(GENOTYPES) == set(PUBLISHED) | {"GDAS_V1"}
    distinct = {format_genotype(g) for g in GENOTYPES.values()}
    assert len(distinct) == 6  # DARTS_V1, DARTS_V2 (= DARTS), PDARTS, PC_DARTS (= PCDARTS), DrNAS, GDAS_V1


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(GenotypeError, match="PDARTS, PC_DARTS"):
        parse_genotype("P_DARTS")


def test_names_agree_with_xautodl_where_it_ships_them():
    genotypes = pytest.importorskip(
        "xautodl.nas_infer_model.DXYs.genotypes", reason="xautodl==1.0.0 not installed (pip install --no-deps)"
    )
    for name in ("DARTS_V1", "DARTS_V2", "DARTS", "GDAS_V1"):
        theirs = genotypes.Networks[name]
        assert parse_genotype(name) == make_genotype(_flat(theirs.normal), _flat(theirs.reduce)), name
