"""Costs of a network of your own (ModuleSpace): every genotype's network measured (a JointCostTable), exact where a
width choice makes the decisions' costs interact; the expected cost, its gradient, the extremes and the budget."""

import json
import re
from pathlib import Path

import pytest
import torch

from pyronas.build import build_pair
from pyronas.costs import (
    CostPrior,
    GroupedCostTable,
    JointCostTable,
    OverBudget,
    best_within_budget,
    count_flops,
    count_params,
    expected_cost,
    flops_table,
    latency_table,
    network_latency,
    params_table,
)
from pyronas.costs.budget import log_probabilities, score
from pyronas.costs.cache import load
from pyronas.nn.examples import choice_convnet
from pyronas.registry import get_method
from pyronas.spaces import ModuleSpace
from tests.costs.conftest import DIGITS, check_cost_factor, random_probabilities

README = Path(__file__).resolve().parents[2] / "README.md"
TABLES = {"params": params_table, "flops": flops_table}
METHODS = ["darts", "drnas", "balenas", "bayesnas", "pgnas"]
KERNELS = ("conv1x1", "conv5x5")


def readme_small_cnn():
    """The README worked example's factory (``my_nets/cnn.py``), read from the README as it is written."""
    (source,) = re.findall(r"```python\n(# my_nets/cnn\.py\n.*?)```", README.read_text(), flags=re.S)
    namespace = {"__name__": "my_nets.cnn"}
    exec(compile(source, "my_nets/cnn.py", "exec"), namespace)
    return namespace["small_cnn"]


@pytest.fixture(params=["choice_convnet", "readme_small_cnn"])
def space(request):
    return ModuleSpace(choice_convnet if request.param == "choice_convnet" else readme_small_cnn())


def measured(space, genotype: str, metric: str) -> float:
    """The cost of ``space.network(genotype)`` counted directly (what runs: narrowed widths, chosen candidates)."""
    net = space.network(genotype, num_classes=DIGITS.num_classes, in_channels=DIGITS.in_channels).eval()
    return count_params(net) if metric == "params" else count_flops(net, torch.zeros(1, 1, 8, 8))


def test_the_example_enumerates_its_genotypes_or_is_costed_by_groups_above_the_limit(monkeypatch):
    space = ModuleSpace(choice_convnet)
    genotypes = list(space.genotypes())
    assert space.num_genotypes == len(set(genotypes)) == 12 and all(space.validate(g) == g for g in genotypes)
    joint = params_table(space, DIGITS)
    monkeypatch.setattr(ModuleSpace, "max_genotypes", 10)
    with pytest.raises(NotImplementedError, match="has 12 genotypes, more than the 10") as refused:
        space.genotypes()  # refused on the call, not on the first next()
    assert "\n" not in str(refused.value)
    grouped = params_table(space, DIGITS)  # the width narrows the first kernel block only: depth is a group alone
    assert isinstance(grouped, GroupedCostTable) and grouped.info["groups"] == [["width", "kernel"], ["depth"]]
    assert [grouped.cost(space, g) for g in genotypes] == [joint.cost(space, g) for g in genotypes]
    monkeypatch.setattr(ModuleSpace, "max_genotypes", 5)
    with pytest.raises(ValueError, match="decisions .* interact and together have 6 combinations, more than the 5"):
        params_table(space, DIGITS)


@pytest.mark.parametrize("metric", ["params", "flops"])
def test_every_genotype_costs_what_its_network_measures_exactly(space, metric):
    table = TABLES[metric](space, DIGITS)
    assert isinstance(table, JointCostTable) and table.info["genotypes"] == 12
    for genotype in space.genotypes():
        assert table.cost(space, genotype) == measured(space, genotype, metric), genotype


@pytest.mark.parametrize("metric", ["params", "flops"])
def test_no_fixed_part_plus_per_choice_costs_would_match(space, metric):
    """The interaction is real: the best additive fit (a fixed part plus one cost per candidate, least squares over
    all 12 genotypes) misses some networks by more than a parameter / FLOP, because the width narrows the kernel
    blocks' convolutions."""
    genotypes = list(space.genotypes())
    design = torch.stack([torch.cat([torch.ones(1)] + [h.flatten() for h in space.one_hot(g).values()])
                          for g in genotypes]).double()  # fmt: skip
    costs = torch.tensor([measured(space, g, metric) for g in genotypes], dtype=torch.float64)
    fit = torch.linalg.lstsq(design, costs[:, None]).solution
    assert (design @ fit).squeeze(1).sub(costs).abs().max() > 1.0
    table = TABLES[metric](space, DIGITS)  # ... while the joint table matches all of them
    assert [table.cost(space, g) for g in genotypes] == costs.tolist()


@pytest.fixture
def one_thread():
    """One thread while timing (two on a busy 2-core machine time OpenMP spinning, not the network), then as before."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_latency_of_every_genotype_is_its_network_timed(space, tmp_path, one_thread):
    """Latency at batch 1 (3 warm-up calls, 10 timed, the median): the table's entry against a second timing of the
    same network. Tolerance: the median relative difference over the 12 genotypes is under 50 % and the two timings
    agree on which of the cheapest and the costliest genotype is faster (timings on shared CPUs vary)."""
    table = latency_table(space, DIGITS, cache_dir=tmp_path)
    assert isinstance(table, JointCostTable) and table.unit == "ms" and (table.costs > 0).all()
    assert table.info["warmup"] == 3 and table.info["repeats"] == 10
    errors, again = [], {}
    for genotype in space.genotypes():
        net = space.network(genotype, num_classes=10, in_channels=1).eval()
        again[genotype] = network_latency(net, torch.randn(1, 1, 8, 8))
        errors.append(abs(table.cost(space, genotype) - again[genotype]) / again[genotype])
    assert sorted(errors)[len(errors) // 2] < 0.5, errors
    cheapest, costliest = (min(again, key=again.get), max(again, key=again.get))
    assert table.cost(space, cheapest) < table.cost(space, costliest)


def test_the_latency_table_is_cached_per_network(tmp_path, monkeypatch):
    space = ModuleSpace(choice_convnet)
    first = latency_table(space, DIGITS, cache_dir=tmp_path, warmup=1, repeats=2)
    (path,) = tmp_path.glob("*.json")
    assert json.loads(path.read_text())["kind"] == "joint" and load(path).to_json() == first.to_json()

    def fail(*args, **kwargs):
        raise AssertionError("a cached table was measured again")

    monkeypatch.setattr("pyronas.costs.latency.joint_table", fail)
    assert latency_table(space, DIGITS, cache_dir=tmp_path, warmup=1, repeats=2).to_json() == first.to_json()
    monkeypatch.undo()
    narrow = ModuleSpace(lambda num_classes, in_channels: choice_convnet(num_classes, in_channels, channels=8),
                         name=space.name)  # fmt: skip
    latency_table(narrow, DIGITS, cache_dir=tmp_path, warmup=1, repeats=2)
    assert len(list(tmp_path.glob("*.json"))) == 2  # one name, another network: its own entry
    readme = ModuleSpace(readme_small_cnn(), name=space.name)  # the same network as the example's: its entry
    assert latency_table(readme, DIGITS, cache_dir=tmp_path, warmup=1, repeats=2).to_json() == first.to_json()
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_expected_cost_is_exact_and_differentiable(space):
    table = params_table(space, DIGITS)
    genotypes = list(space.genotypes())
    for genotype in genotypes:  # one-hot weights: that genotype's cost
        assert float(expected_cost(table, space.one_hot(genotype))) == table.cost(space, genotype)
    probs = random_probabilities(space)
    brute = 0.0  # sum over genotypes of cost * prod over rows of the chosen candidate's probability
    for g in genotypes:
        chosen = torch.cat([p[h > 0] for p, h in zip(probs.values(), space.one_hot(g).values())])
        brute += table.cost(space, g) * float(chosen.prod())
    assert float(expected_cost(table, probs)) == pytest.approx(float(brute), rel=1e-12)
    batch = random_probabilities(space, seed=1, batch=(4,))
    first = {c: p[0] for c, p in batch.items()}
    assert expected_cost(table, batch).shape == (4,)
    assert float(expected_cost(table, batch)[0]) == pytest.approx(float(expected_cost(table, first)), rel=1e-12)
    weights = {c: torch.randn(s, requires_grad=True) for c, s in space.arch_shape.items()}  # signed: |w| / sum |w|
    expected_cost(table, weights).backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights.values())


def test_extremes_and_the_budgeted_genotype_are_exhaustive(space):
    table = params_table(space, DIGITS)
    genotypes = list(space.genotypes())
    costs = {g: table.cost(space, g) for g in genotypes}
    assert table.extremes(space) == (min(costs, key=costs.get), max(costs, key=costs.get))
    probs = random_probabilities(space, seed=2)
    logp = log_probabilities(probs)
    for budget in sorted(costs.values()):
        found = best_within_budget(space, probs, table, budget)
        best = max(score(space, g, logp) for g in genotypes if costs[g] <= budget)
        assert costs[found] <= budget and score(space, found, logp) == pytest.approx(best)
    with pytest.raises(OverBudget):
        best_within_budget(space, probs, table, min(costs.values()) - 1)


def test_the_table_round_trips_through_json_and_scales(space):
    table = flops_table(space, DIGITS)
    back = JointCostTable.from_json(json.loads(json.dumps(table.to_json())))
    assert torch.equal(back.costs, table.costs) and back.rows == table.rows and back.size == DIGITS
    scaled = table.scaled(1e-6, "MFLOPs")
    g = next(iter(space.genotypes()))
    assert scaled.unit == "MFLOPs" and scaled.cost(space, g) == pytest.approx(1e-6 * table.cost(space, g))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gets_the_joint_cost_factor_from_its_mixing_weights(method):
    space = ModuleSpace(choice_convnet)
    supernet = space.supernet(num_classes=3, in_channels=1)
    model, guide = build_pair(get_method(method), supernet, space, {})
    table = params_table(space, DIGITS).scaled(1e-3)
    wrapped = CostPrior(model, table, 0.5)
    check_cost_factor(wrapped, model, guide, supernet, table, 0.5)


def test_the_example_costs_what_the_readme_says():
    """The figures of the README's cost-aware section (digits: 1 input channel, 8 x 8 images)."""
    space = ModuleSpace(choice_convnet)
    table = params_table(space, DIGITS)
    cheapest, costliest = table.extremes(space)
    assert (json.loads(cheapest), table.cost(space, cheapest)) == ({"width": "8", "kernel": "conv1x1",
                                                                     "depth": "skip"}, 706)  # fmt: skip
    assert (json.loads(costliest), table.cost(space, costliest)) == ({"width": "16", "kernel": "conv5x5",
                                                                       "depth": "block"}, 15546)  # fmt: skip

    def extra(width: str) -> float:  # what conv5x5 costs more than conv1x1 at a width
        cost = {k: table.cost(space, json.dumps({"width": width, "kernel": k, "depth": "skip"})) for k in KERNELS}
        return cost["conv5x5"] - cost["conv1x1"]

    assert (extra("8"), extra("16")) == (9216, 12288)
