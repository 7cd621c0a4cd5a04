"""The most probable architecture within a cost budget: exact on NB201, greedy on any space."""

import itertools

import pytest
import torch

from pyronas.costs import OverBudget, best_within_budget, params_table
from pyronas.costs.budget import log_probabilities, score
from pyronas.spaces import get_space
from tests.costs.conftest import SIZE


def _probabilities(space, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {c: torch.rand(s, generator=g).softmax(-1) for c, s in space.arch_shape.items()}


def test_nb201_search_is_exact():
    space = get_space("nb201")
    table = params_table(space, SIZE)
    probs = _probabilities(space)
    logp, t = log_probabilities(probs)["cell"], table.table["cell"]
    unconstrained = table.cost(space, space.derive(probs))
    budget = table.fixed + 0.5 * (unconstrained - table.fixed)
    found = best_within_budget(space, probs, table, budget)
    assert table.cost(space, found) <= budget
    best = max(  # brute force over the 5^6 op choices, independent of one_hot and genotypes()
        (sum(logp[e, k] for e, k in enumerate(ops)), ops)
        for ops in itertools.product(range(5), repeat=6)
        if table.fixed + sum(t[e, k] for e, k in enumerate(ops)) <= budget
    )
    assert score(space, found, log_probabilities(probs)) == pytest.approx(float(best[0]))
    greedy = best_within_budget(space, probs, table, budget, exhaustive=False)
    assert table.cost(space, greedy) <= budget
    assert score(space, greedy, log_probabilities(probs)) <= score(space, found, log_probabilities(probs)) + 1e-9


def test_a_large_budget_gives_the_unconstrained_cell(space):
    table = params_table(space, SIZE)
    probs = _probabilities(space)
    assert best_within_budget(space, probs, table, float("inf")) == space.derive(probs)


def test_darts_greedy_search_meets_the_budget():
    space = get_space("darts")
    table = params_table(space, SIZE)
    probs = _probabilities(space, seed=3)
    unconstrained = table.cost(space, space.derive(probs))
    for fraction in (0.9, 0.5, 0.2):
        budget = table.fixed + fraction * (unconstrained - table.fixed)
        found = best_within_budget(space, probs, table, budget)
        assert table.cost(space, found) <= budget and space.validate(found) == found


def test_an_impossible_budget_is_refused(space):
    table = params_table(space, SIZE)
    with pytest.raises(OverBudget):
        best_within_budget(space, _probabilities(space), table, table.fixed - 1)
