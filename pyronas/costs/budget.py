"""The most probable architecture within a cost budget, from op probabilities.

The score of a genotype is the sum of the log-probabilities of its chosen candidates,
``sum(one_hot(genotype) * log p)``. Spaces that enumerate their genotypes
(:meth:`~pyronas.spaces.SearchSpace.genotypes`, e.g. NB201's 15,625 cells, a network of your own up to
:attr:`~pyronas.spaces.ModuleSpace.max_genotypes`) are searched exactly;
a network of one's own costed by groups of interacting decisions (:mod:`pyronas.costs.grouped`) exactly, by
dynamic programming over the groups (each group's best score at each cost, Pareto fronts merged group by group);
others greedily by per-edge downgrades: starting from the unconstrained genotype, each step forbids, on one
chosen edge, every op that costs at least as much as the chosen one (``derive`` then picks the best cheaper
op, or another input), or on every edge of a cell type every op costing at least its costliest chosen op
(so that a node cannot switch to another costly input), taking the step that loses the least score per
unit of cost saved, until the cost is within the budget. Forbidden ops stay forbidden and every step
lowers the cost, so the search ends; it may stop above a budget that some genotype meets (:class:`OverBudget`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from pyronas.costs.expected import edge_distribution, expected_cost
from pyronas.costs.grouped import GroupedCostTable
from pyronas.costs.joint import CostTables
from pyronas.costs.rows import genotype_at, row_distributions
from pyronas.costs.table import CostTable
from pyronas.spaces import SearchSpace

PAIRS = 1 << 22  # the most (state, combination) pairs the search by groups holds at once
FORBIDDEN = -1e30  # score of a forbidden candidate: finite, so derive still forms a genotype where it must


class OverBudget(ValueError):
    """No architecture found within the budget."""


def log_probabilities(probabilities: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``log p`` per cell of op probabilities (or unnormalised weights, made per-edge distributions), float64."""
    return {
        cell: edge_distribution(p.detach().double().cpu()).clamp_min(1e-300).log() for cell, p in probabilities.items()
    }


def score(space: SearchSpace, genotype: str, logp: Mapping[str, torch.Tensor]) -> float:
    """Sum of the log-probabilities of ``genotype``'s chosen candidates."""
    hot = space.one_hot(genotype)
    return sum(float((hot[cell].double() * lp).sum()) for cell, lp in logp.items())


_ENUMERATED: dict[tuple, tuple[list[str], dict[str, torch.Tensor]]] = {}


def _all_one_hot(space: SearchSpace) -> tuple[list[str], dict[str, torch.Tensor]]:
    """Every genotype and their one-hot weights ``{cell_type: [N, E, K]}`` (computed once per space class, name and
    candidates: two networks of one's own may share a name)."""
    candidates = tuple((cell, space.candidate_names(cell)) for cell in space.cell_types)
    key = (type(space), space.name, candidates)
    if key not in _ENUMERATED:
        genotypes = list(space.genotypes())
        hots = [space.one_hot(g) for g in genotypes]
        _ENUMERATED[key] = genotypes, {cell: torch.stack([h[cell] for h in hots]).double() for cell in space.cell_types}
    return _ENUMERATED[key]


def _exhaustive(space: SearchSpace, logp: Mapping[str, torch.Tensor], table: CostTables, budget: float) -> str:
    genotypes, hots = _all_one_hot(space)
    scores = sum((hots[cell] * logp[cell]).sum((-2, -1)) for cell in logp)
    costs = expected_cost(table, hots, normalize=False)  # one-hot weights: each genotype's cost
    feasible = costs <= budget
    if not feasible.any():
        raise OverBudget(
            f"no {space.name} genotype costs <= {budget:g} {table.unit}; the cheapest costs {costs.min():g}"
        )
    return genotypes[int(torch.where(feasible, scores, -torch.inf).argmax())]


def _moves(space: SearchSpace, genotype: str, scores: Mapping[str, torch.Tensor], table: CostTable):
    """Scores with more ops forbidden: a downgrade of each chosen edge, and a cap on each cell type's costliest op."""
    for cell, hot in space.one_hot(genotype).items():
        costs = table.table[cell]
        chosen = (hot > 0).nonzero().tolist()
        for edge, op in chosen:  # on this edge, only ops cheaper than the chosen one
            trial = {c: s.clone() for c, s in scores.items()}
            trial[cell][edge, costs[edge] >= costs[edge, op]] = FORBIDDEN
            yield trial
        cap = max(float(costs[edge, op]) for edge, op in chosen)
        if cap > 0:  # on every edge of the cell type, only ops cheaper than its costliest chosen one
            trial = {c: s.clone() for c, s in scores.items()}
            trial[cell][costs >= cap] = FORBIDDEN
            yield trial


def _greedy(space: SearchSpace, logp: Mapping[str, torch.Tensor], table: CostTables, budget: float) -> str:
    if not isinstance(table, CostTable):
        raise ValueError(f"the greedy search needs per-candidate costs, not a {type(table).__name__}")
    scores = {cell: lp.clone() for cell, lp in logp.items()}
    genotype = space.derive(scores)
    cost = table.cost(space, genotype)
    while cost > budget:
        best = None  # (score lost per cost saved, scores, genotype, cost)
        current = score(space, genotype, logp)
        for trial in _moves(space, genotype, scores, table):
            try:
                candidate = space.derive(trial)
            except ValueError:
                continue
            saved = cost - table.cost(space, candidate)
            if saved <= 0:
                continue
            ratio = (current - score(space, candidate, logp)) / saved
            if best is None or ratio < best[0]:
                best = (ratio, trial, candidate, cost - saved)
        if best is None:
            raise OverBudget(f"greedy search found no {space.name} genotype costing <= {budget:g} {table.unit}; "
                             f"stopped at {cost:g}")  # fmt: skip
        _, scores, genotype, cost = best
    return genotype


def _pareto(cost: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Indices of the entries no other entry beats (cheaper or as cheap, and better), cheapest first."""
    order = score.argsort(descending=True, stable=True)
    order = order[cost[order].argsort(stable=True)]  # by cost, then by score, best first
    best_before = torch.cat([score.new_full((1,), -torch.inf), score[order].cummax(0).values[:-1]])
    return order[score[order] > best_before]


def _by_groups(space: SearchSpace, logp: Mapping[str, torch.Tensor], table: GroupedCostTable, budget: float) -> str:
    per_row = row_distributions(logp, table.rows)  # log p of every row's candidates
    slack = budget - table.base + 1e-12 * max(1.0, abs(budget))  # what the groups' parts may add (and rounding)
    fronts = []  # per group: (cost, score, flat combination) of its Pareto front
    for group, part in zip(table.groups, table.parts):
        score = torch.zeros(part.shape, dtype=torch.float64)
        for axis, r in enumerate(group):
            score = score + per_row[r].reshape([-1 if a == axis else 1 for a in range(len(group))])
        cost, score = part.flatten(), score.flatten()
        keep = _pareto(cost, score)
        fronts.append((cost[keep], score[keep], keep))
    least_after = [sum(float(c.min()) for c, _, _ in fronts[g:]) for g in range(len(fronts) + 1)]
    cost, score = torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    steps = []  # per group: (previous state, combination) of each state kept
    for g, (group_cost, group_score, combination) in enumerate(fronts):
        m, kept = len(group_cost), []  # states times the group's front, in blocks of at most PAIRS pairs
        for start in range(0, len(cost), max(1, PAIRS // m)):
            block = slice(start, start + max(1, PAIRS // m))
            total = (cost[block, None] + group_cost[None, :]).flatten()
            feasible = (total + least_after[g + 1] <= slack).nonzero().squeeze(1)
            total_score = (score[block, None] + group_score[None, :]).flatten()[feasible]
            kept.append(start * m + feasible[_pareto(total[feasible], total_score)])
        kept = torch.cat(kept)
        if not len(kept):
            raise OverBudget(f"no {space.name} genotype costs <= {budget:g} {table.unit}; the cheapest costs "
                             f"{table.base + least_after[0]:g}")  # fmt: skip
        previous, choice = kept // m, kept % m
        total_cost, total_score = cost[previous] + group_cost[choice], score[previous] + group_score[choice]
        front = _pareto(total_cost, total_score)
        steps.append((previous[front], combination[choice[front]]))
        cost, score = total_cost[front], total_score[front]
    state = int(score.argmax())
    index = [0] * len(per_row)
    for group, part, (previous, combination) in reversed(list(zip(table.groups, table.parts, steps))):
        for r, k in zip(group, torch.unravel_index(combination[state], part.shape)):
            index[r] = int(k)
        state = int(previous[state])
    return genotype_at(space, index)


def best_within_budget(
    space: SearchSpace,
    probabilities: Mapping[str, torch.Tensor],
    table: CostTables,
    budget: float,
    *,
    exhaustive: bool | None = None,
) -> str:
    """The genotype of highest log-probability whose cost (``table.cost``) is at most ``budget``.

    Args:
        probabilities: op probabilities ``{cell_type: [E, K]}`` (a guide's ``op_probabilities()``).
        table: the cost table; ``budget`` is in its unit.
        exhaustive: search every genotype (``None``: whenever the space enumerates them) or greedily.

    Raises :class:`OverBudget` if none is found.
    """
    logp = log_probabilities(probabilities)
    if exhaustive is None:
        try:
            iter(space.genotypes())
            exhaustive = True
        except NotImplementedError:
            exhaustive = False
    if not exhaustive and isinstance(table, GroupedCostTable):
        return _by_groups(space, logp, table, budget)
    return (_exhaustive if exhaustive else _greedy)(space, logp, table, budget)
