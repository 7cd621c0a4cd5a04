"""The cost prior: expected cost, the factor in every method's model, the hinge, and a small search."""

import pytest
import torch
from pyro import poutine

from pyronas.build import build_pair, build_search
from pyronas.costs import (
    CostPrior,
    cost_penalty,
    edge_distribution,
    expected_cost,
    params_table,
    search_size,
)
from pyronas.registry import get_method
from pyronas.spaces import get_space
from tests.costs.conftest import SIZE, check_cost_factor, random_genotypes

METHODS = ["darts", "drnas", "balenas", "bayesnas", "pgnas"]


def test_expected_cost_of_a_genotype_is_its_cost(space):
    table = params_table(space, SIZE)
    for genotype in random_genotypes(space, 3):
        assert float(expected_cost(table, space.one_hot(genotype))) == table.cost(space, genotype)


def test_unnormalised_weights_become_per_edge_distributions():
    w = torch.randn(6, 5)
    p = edge_distribution(w)
    assert torch.allclose(p.sum(-1), torch.ones(6)) and (p >= 0).all()
    assert torch.allclose(edge_distribution(-3.0 * w), p)
    assert (edge_distribution(torch.zeros(2, 5)) == 0).all()  # a cut edge costs nothing
    table = params_table(get_space("nb201"), SIZE)
    assert torch.allclose(expected_cost(table, {"cell": 7.0 * w}), expected_cost(table, {"cell": p}))
    batch = torch.rand(3, 6, 5)
    assert expected_cost(table, {"cell": batch}).shape == (3,)


def test_hinge_penalises_only_the_cost_above_the_budget():
    table = params_table(get_space("nb201"), SIZE)
    weights = {"cell": torch.rand(6, 5, requires_grad=True)}
    cost = expected_cost(table, weights).detach()
    assert cost_penalty(table, weights, 2.0, budget=float(cost) + 1).item() == 0.0
    below = cost_penalty(table, weights, 2.0, budget=float(cost) - 100)
    assert torch.isclose(below, torch.tensor(200.0, dtype=below.dtype))
    below.backward()
    assert weights["cell"].grad.abs().sum() > 0


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gets_the_cost_factor_from_its_mixing_weights(space, method):
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=3, in_channels=1)
    model, guide = build_pair(get_method(method), supernet, space, {})
    table = params_table(space, SIZE).scaled(1e-3)
    wrapped = CostPrior(model, table, 0.5)
    assert wrapped.supernet is supernet  # the wrapper keeps the inner model's attributes and hooks
    assert getattr(wrapped, "kl_weight", 1.0) == getattr(model, "kl_weight", 1.0)
    assert callable(getattr(wrapped, "prune", None)) == callable(getattr(model, "prune", None))

    guide_trace = check_cost_factor(wrapped, model, guide, supernet, table, 0.5)
    arch_trace = poutine.trace(poutine.replay(wrapped.arch, trace=guide_trace)).get_trace()
    assert "cost" in arch_trace.nodes and wrapped.summary()["cost_prior"]["weight"] == 0.5


def _search_cost(weight: float) -> float:
    parts = build_search(method="drnas", dataset="digits", train_size=64, batch_size=32, channels=4,
                         cells_per_stage=1, epochs=3, seed=0, progress=False)  # fmt: skip
    table = params_table(parts.space, search_size(parts)).scaled(1e-3, "thousand parameters")
    parts.model = CostPrior(parts.model, table, weight)
    with parts.activate():
        search = parts.runner()
        search.run()
        return float(expected_cost(table, search.op_probabilities()))


def test_a_large_parameter_weight_makes_drnas_on_digits_cheaper():
    free, costly = _search_cost(0.0), _search_cost(10.0)
    assert costly < free - 0.5, (free, costly)  # thousand parameters, of about 9 at the uniform prior
