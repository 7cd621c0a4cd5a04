"""Costs of a network of your own with more genotypes than a ModuleSpace enumerates: one joint part per group of
interacting decisions (GroupedCostTable), checked against the joint table of every genotype and against networks
measured whole; the expected cost, the extremes and the budgeted genotype against brute force."""

import json
from functools import partial

import pytest
import torch

from pyronas.api import search
from pyronas.costs import (
    GroupedCostTable,
    JointCostTable,
    NonAdditiveCost,
    OverBudget,
    best_within_budget,
    count_flops,
    count_params,
    expected_cost,
    flops_table,
    latency_table,
    params_table,
)
from pyronas.costs.budget import log_probabilities, score
from pyronas.costs.cache import load
from pyronas.costs.grouped import interaction_groups
from pyronas.nn.examples import choice_chain
from pyronas.spaces import ModuleSpace
from tests.costs.conftest import DIGITS, OWN_TINY_API, random_probabilities


@pytest.fixture(scope="module")
def chain():
    """choice_chain with 3 blocks: 54 genotypes, few enough for the joint table that checks the grouped one."""
    return ModuleSpace(partial(choice_chain, blocks=3), name="chain3")


@pytest.fixture(scope="module")
def tables(chain):
    """The joint params table of all 54 genotypes and the grouped one measured with enumeration capped at 18."""
    joint = params_table(chain, DIGITS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ModuleSpace, "max_genotypes", 18)
        grouped = params_table(chain, DIGITS)
    return joint, grouped


def test_the_width_groups_the_blocks_beside_it_and_no_other(tables):
    joint, grouped = tables
    assert isinstance(joint, JointCostTable) and isinstance(grouped, GroupedCostTable)
    assert grouped.info["groups"] == [["width", "block1", "block2"], ["block0"]]
    assert [tuple(p.shape) for p in grouped.parts] == [(2, 3, 3), (3,)]
    assert grouped.info["check"]["networks"] == 32 and grouped.info["check"]["max_relative_error"] == 0.0
    assert 18 + 3 <= grouped.info["networks_built"] < 54  # the parts at least, fewer than every genotype


def test_every_genotype_costs_what_the_joint_table_measured(chain, tables):
    joint, grouped = tables
    genotypes = list(chain.genotypes())
    assert len(genotypes) == 54
    assert [grouped.cost(chain, g) for g in genotypes] == [joint.cost(chain, g) for g in genotypes]
    assert len({joint.cost(chain, g) for g in genotypes}) > 10  # the costs differ, so the comparison means something


def test_flops_of_networks_drawn_at_random_are_what_they_measure(monkeypatch):
    monkeypatch.setattr(ModuleSpace, "max_genotypes", 32)
    space = ModuleSpace(partial(choice_chain, blocks=5), name="chain5")  # 486 genotypes
    table = flops_table(space, DIGITS)
    assert isinstance(table, GroupedCostTable) and table.info["groups"][0] == ["width", "block3", "block4"]
    g = torch.Generator().manual_seed(7)
    for _ in range(6):
        genotype = space.derive({c: torch.rand(s, generator=g) for c, s in space.arch_shape.items()})
        net = space.network(genotype, num_classes=10, in_channels=1).eval()
        assert table.cost(space, genotype) == count_flops(net, DIGITS.images()), genotype


def test_a_missed_interaction_is_caught_by_the_networks_measured_whole(chain, monkeypatch):
    """Negative control: with the grouping switched off (every decision alone), the width's effect on the blocks
    beside it is not additive, and the check on random networks refuses the table in one line."""
    monkeypatch.setattr(ModuleSpace, "max_genotypes", 32)
    monkeypatch.setattr(
        "pyronas.costs.grouped.interaction_groups", lambda sizes, measure: [(r,) for r in range(len(sizes))]
    )
    with pytest.raises(NonAdditiveCost, match="cannot cost chain3's networks by groups of decisions") as refused:
        params_table(chain, DIGITS)
    assert "\n" not in str(refused.value)


def test_interaction_groups_are_transitive_and_only_where_costs_interact():
    sizes = [3, 2, 2, 3]
    assert interaction_groups(sizes, lambda a: float(sum(a))) == [(0,), (1,), (2,), (3,)]
    assert interaction_groups(sizes, lambda a: (float(a[0] * a[3]), float(a[1]))) == [(0, 3), (1,), (2,)]
    chained = interaction_groups(sizes, lambda a: (float(a[0] * a[1] + a[1] * a[2]), float(a[3])))
    assert chained == [(0, 1, 2), (3,)]


def test_a_group_with_too_many_combinations_is_refused_in_one_line(chain, monkeypatch):
    monkeypatch.setattr(ModuleSpace, "max_genotypes", 16)  # the width group has 2 * 3 * 3 = 18
    with pytest.raises(ValueError, match="decisions width, block1, block2 interact and together have 18 "
                                         "combinations, more than the 16") as refused:  # fmt: skip
        params_table(chain, DIGITS)
    assert "\n" not in str(refused.value)


def test_expected_cost_equals_the_joint_tables_and_is_differentiable(chain, tables):
    joint, grouped = tables
    for seed in range(3):
        probs = random_probabilities(chain, seed)
        assert float(expected_cost(grouped, probs)) == pytest.approx(float(expected_cost(joint, probs)), rel=1e-12)
    batch = random_probabilities(chain, 5, batch=(4,))
    assert torch.allclose(expected_cost(grouped, batch), expected_cost(joint, batch), rtol=1e-12, atol=0)
    weights = {c: torch.randn(s, requires_grad=True) for c, s in chain.arch_shape.items()}
    expected_cost(grouped, weights).backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights.values())


@pytest.mark.parametrize("pairs", [1 << 22, 5], ids=["one-block", "blocks-of-5-pairs"])
def test_extremes_and_the_budgeted_genotype_equal_brute_force(chain, tables, monkeypatch, pairs):
    monkeypatch.setattr("pyronas.costs.budget.PAIRS", pairs)
    joint, grouped = tables
    genotypes = list(chain.genotypes())
    costs = {g: joint.cost(chain, g) for g in genotypes}
    cheapest, costliest = grouped.extremes(chain)
    assert (costs[cheapest], costs[costliest]) == (min(costs.values()), max(costs.values()))
    monkeypatch.setattr(ModuleSpace, "max_genotypes", 18)  # as for a space too large to enumerate: by groups
    for seed in range(2):
        probs = random_probabilities(chain, 10 + seed)
        logp = log_probabilities(probs)
        for budget in sorted(set(costs.values()))[::3]:
            found = best_within_budget(chain, probs, grouped, budget)
            best = max(score(chain, g, logp) for g in genotypes if costs[g] <= budget)
            assert costs[found] <= budget and score(chain, found, logp) == pytest.approx(best, abs=1e-9), budget
    with pytest.raises(OverBudget, match="no chain3 genotype costs"):
        best_within_budget(chain, probs, grouped, min(costs.values()) - 1)


def test_the_table_round_trips_through_json_and_scales(tables, chain):
    _, grouped = tables
    back = GroupedCostTable.from_json(json.loads(json.dumps(grouped.to_json())))
    assert back.groups == grouped.groups and all(torch.equal(a, b) for a, b in zip(back.parts, grouped.parts))
    g = next(iter(chain.genotypes()))
    assert back.cost(chain, g) == grouped.cost(chain, g)
    assert grouped.scaled(1e-3, "k").cost(chain, g) == pytest.approx(1e-3 * grouped.cost(chain, g))


def test_latency_is_grouped_by_structure_and_cached(chain, tmp_path, monkeypatch):
    """Latency groups the decisions as parameters and FLOPs do (timing noise decides nothing) and records how far the
    groups' sum is from networks timed whole; the table is cached as a grouped one."""
    monkeypatch.setattr(ModuleSpace, "max_genotypes", 18)
    table = latency_table(chain, DIGITS, cache_dir=tmp_path, warmup=1, repeats=3)
    assert isinstance(table, GroupedCostTable) and table.info["groups"] == [["width", "block1", "block2"], ["block0"]]
    check = table.info["check"]
    assert check["networks"] == 32 and 0 <= check["median_relative_error"] <= check["max_relative_error"]
    (path,) = tmp_path.glob("*.json")
    assert json.loads(path.read_text())["kind"] == "grouped" and load(path).to_json() == table.to_json()


def test_a_search_of_a_network_too_large_to_enumerate_holds_its_budget(chain, tables, monkeypatch):
    """The search path end to end (prior, budgeted derivation, result): the budget lies between the cheapest and the
    costliest network, and the derived network, measured whole, is within it."""
    monkeypatch.setattr(ModuleSpace, "max_genotypes", 18)
    _, grouped = tables
    low, high = (grouped.cost(chain, g) for g in grouped.extremes(chain))
    budget = round((low + high) / 2)
    result = search("drnas", space=chain, cost="params", budget=str(budget), **OWN_TINY_API)
    net = chain.network(result.genotype, num_classes=10, in_channels=1)
    assert result.cost["genotype"]["params"] == count_params(net) <= budget
    assert result.cost["genotype"]["predicted"] == pytest.approx(count_params(net) * 1e-6)
    assert result.cost["groups"] == [["width", "block1", "block2"], ["block0"]]  # recorded with the result
    assert result.cost["check"] == {"networks": 32, "median_relative_error": 0.0, "max_relative_error": 0.0}


def test_the_chain_costs_what_the_readme_says():
    """The README's figures for pyronas.nn.examples:choice_chain on digits (8 blocks, 13,122 genotypes)."""
    space = ModuleSpace(choice_chain)
    assert space.num_genotypes == 13_122
    table = params_table(space, DIGITS)
    assert isinstance(table, GroupedCostTable) and table.info["networks_built"] == 182
    assert table.info["groups"] == [["width", "block6", "block7"]] + [[f"block{i}"] for i in range(6)]
    cheapest, costliest = table.extremes(space)
    assert (table.cost(space, cheapest), table.cost(space, costliest)) == (746, 13_106)
    net = space.network(costliest, num_classes=10, in_channels=1)
    assert count_params(net) == 13_106
