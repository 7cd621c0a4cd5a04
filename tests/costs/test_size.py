"""Parameter and FLOP tables add up exactly to the standalone network's counts."""

import pytest

from pyronas.costs import count_flops, count_params, flops_table, params_table
from pyronas.spaces.darts_genotype import DARTS_V2, GDAS_V1
from tests.costs.conftest import SIZE, random_genotypes


@pytest.mark.parametrize("metric", ["params", "flops"])
def test_table_sum_equals_the_whole_network_exactly(space, metric):
    table = params_table(space, SIZE) if metric == "params" else flops_table(space, SIZE)
    genotypes = random_genotypes(space, 4)
    if space.name == "darts":  # skip connections from input nodes of a reduction cell are FactorizedReduce
        genotypes += [str(DARTS_V2), str(GDAS_V1)]
    for genotype in genotypes:
        net = space.network(genotype, **SIZE.network_kwargs()).eval()
        whole = count_params(net) if metric == "params" else count_flops(net, SIZE.images())
        assert table.cost(space, genotype) == whole, genotype


def test_candidate_costs_are_their_modules(space):
    """Entries are the candidates' own costs: zero for parameter-free ops, positive for convolutions."""
    table = params_table(space, SIZE)
    for t in table.table.values():
        for k, op in enumerate(space.ops):
            if op in ("none", "max_pool_3x3", "avg_pool_3x3"):
                assert (t[:, k] == 0).all(), op
            if "conv" in op:
                assert (t[:, k] > 0).all(), op
    assert table.fixed > 0
    if space.name == "darts":  # skip_connect: FactorizedReduce on the reduction cell's input edges only
        skip = space.ops.index("skip_connect")
        from_inputs = [e for e, name in enumerate(space.edge_names) if name.split("<-")[1] in ("0", "1")]
        reduce = table.table["reduce"][:, skip]
        assert all((reduce[e] > 0) == (e in from_inputs) for e in range(len(space.edge_names)))
        assert (table.table["normal"][:, skip] == 0).all()


def test_nb201_parameters_match_the_benchmark_for_every_cell(nb201_csv):
    """At the benchmark's size (C=16, N=5, CIFAR-10) the table gives ``params_m`` as the network does.

    The benchmark counts some cells otherwise than their standalone network (``tests/nn/test_nb201.py``: 98 %
    match); the table matches on exactly the cells whose network matches."""
    import csv

    from pyronas.costs import NetworkSize
    from pyronas.spaces import get_space
    from pyronas.spaces.nb201_cells import parse_cell

    table = params_table(get_space("nb201"), NetworkSize(channels=16, cells_per_stage=5, num_classes=10))
    costs = table.table["cell"]
    with open(nb201_csv) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15625
    matches = 0
    for row in rows:
        cost = table.fixed + sum(float(costs[e, k]) for e, k in enumerate(parse_cell(row["arch"])))
        matches += abs(cost / 1e6 - float(row["params_m"])) < 5e-7
    print(f"{matches} of {len(rows)} cells match params_m")
    assert matches >= 0.98 * len(rows)


def test_a_cost_that_does_not_add_up_is_refused():
    from pyronas.costs import NonAdditiveCost
    from pyronas.costs.decompose import decompose
    from pyronas.spaces import get_space

    space = get_space("nb201")
    calls = iter(range(100))
    with pytest.raises(NonAdditiveCost, match="fixed part"):
        decompose(space, SIZE, "odd", "count", lambda op: 1.0, lambda net: float(next(calls)))
    table = params_table(get_space("darts"), SIZE)
    assert table.info["never_derived"] == {"normal": ["none"], "reduce": ["none"]}
