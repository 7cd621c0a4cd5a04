"""A cost term in any method's model: ``pyro.factor("cost", -penalty)`` from the mixing weights it uses.

``CostPrior(model, table, weight)`` wraps a method's model without changing it: when the wrapper runs,
the inner model runs as usual and the mixing weights it hands to the supernet (the output of its
``arch()``, through :func:`~pyronas.infer.primitives.classify`) give the expected cost
(:func:`~pyronas.costs.expected.expected_cost`, unnormalised weights made per-edge distributions by
``|w| / sum |w|``). The penalty is ``weight * cost``, or with a ``budget`` the hinge
``weight * relu(cost - budget)``; it enters the loss next to the mean cross-entropy, in the table's unit
(scale the table, e.g. :meth:`CostTable.scaled`, to choose the weight's meaning). The supernet's weights
do not depend on it, so in a bilevel search only the architecture steps feel it; the logged losses
include it.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyro
import torch
from torch import nn

from pyronas.costs.expected import expected_cost
from pyronas.costs.joint import CostTables


def cost_penalty(
    table: CostTables,
    weights: Mapping[str, torch.Tensor],
    weight: float,
    budget: float | None = None,
    *,
    normalize: bool = True,
) -> torch.Tensor:
    """``weight * E[cost]``, or ``weight * relu(E[cost] - budget)`` with a budget (table units)."""
    cost = expected_cost(table, weights, normalize=normalize)
    return weight * (cost if budget is None else torch.relu(cost - budget))


class CostPrior(nn.Module):
    """A method's model with a cost prior: ``p(arch) * exp(-penalty(arch))``.

    Args:
        model: the method's model (``arch()`` and ``forward(images, labels)``, see :mod:`pyronas.infer.contract`).
        table: per-candidate or per-genotype costs (:func:`~pyronas.costs.params_table`, ``flops_table``,
            ``latency_table``).
        weight: factor of the penalty (loss units per table unit).
        budget: if given, only the expected cost above it is penalised (hinge).
        normalize: make mixing weights per-edge distributions before the expectation (see
            :func:`~pyronas.costs.expected.edge_distribution`).
        name: the factor's site name.
        supernet: the module ``model`` runs with the mixing weights (default ``model.supernet``).

    Every other attribute (``kl_weight``, ``prune``, ``supernet``, ...) is the inner model's, and so is the state
    (``state_dict`` has no prefix of the wrapper's).
    """

    def __init__(
        self,
        model: nn.Module,
        table: CostTables,
        weight: float,
        *,
        budget: float | None = None,
        normalize: bool = True,
        name: str = "cost",
        supernet: nn.Module | None = None,
    ):
        super().__init__()
        if weight < 0:
            raise ValueError(f"the cost weight must be >= 0, got {weight}")
        self.model = model
        self.table, self.weight, self.budget, self.normalize, self.name = table, weight, budget, normalize, name
        object.__setattr__(self, "_target", supernet)  # not a child: its parameters stay the inner model's
        self._on: dict[tuple[torch.device, torch.dtype], CostTables] = {}

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "model" or "model" not in self.__dict__.get("_modules", {}):
                raise
            return getattr(self._modules["model"], name)

    def state_dict(self, *args, **kwargs) -> dict:
        """The inner model's state, unprefixed: a checkpoint of a wrapped model reads as the model's own."""
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Mapping, strict: bool = True, assign: bool = False):
        """Load the inner model's state (as :meth:`state_dict` gives it)."""
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)

    def penalty(self, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The cost penalty of mixing weights ``{cell_type: [E, K]}`` (a scalar tensor)."""
        first = next(iter(weights.values()))
        key = (first.device, first.dtype)
        if key not in self._on:  # the table on the weights' device, moved once
            self._on[key] = self.table.to(first.device, first.dtype)
        return cost_penalty(self._on[key], weights, self.weight, self.budget, normalize=self.normalize)

    def arch(self) -> dict[str, torch.Tensor]:
        """The inner model's ``arch()``, with the cost factor of its mixing weights."""
        weights = self.model.arch()
        pyro.factor(self.name, -self.penalty(weights))
        return weights

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The inner model's ``forward``, plus the cost factor of the mixing weights its supernet ran with."""
        supernet = self._target if self._target is not None else self.model.supernet
        used: list[Mapping[str, torch.Tensor]] = []
        handle = supernet.register_forward_pre_hook(lambda module, args: used.append(args[1]))
        try:
            out = self.model(images, labels)
        finally:
            handle.remove()
        if not used:
            raise RuntimeError(f"{type(self.model).__name__} never ran its supernet with mixing weights")
        weights = used[-1]
        if not isinstance(weights, Mapping):  # a one-cell space's supernet may take the bare [E, K] tensor
            weights = dict(zip(self.table.cell_types, [weights]))
        pyro.factor(self.name, -self.penalty(weights))
        return out

    def summary(self) -> dict:
        """The inner model's summary (if any) and the cost prior's settings."""
        inner = self.model.summary() if callable(getattr(self.model, "summary", None)) else {}
        t = self.table
        return {**inner, "cost_prior": {"metric": t.metric, "unit": t.unit, "weight": self.weight,
                                        "budget": self.budget}}  # fmt: skip
