"""The cost settings of a search: metrics, the units they are reported in, and budgets written as ``0.5M`` or ``5ms``.

A budget is parsed into the metric's base unit (a parameter count, FLOPs per image, milliseconds); logs and
``result.json`` report costs in :data:`UNITS` (millions of parameters, MFLOPs, ms).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pyronas.names import COST_METRICS

UNITS = {"params": (1e-6, "M parameters"), "flops": (1e-6, "MFLOPs"), "latency": (1.0, "ms")}  # base -> reported
SUFFIXES = {
    "params": {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9},
    "flops": {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9},
    "latency": {"": 1.0, "ms": 1.0, "us": 1e-3, "s": 1e3},
}
EXAMPLES = {"params": "0.5M or 500k parameters", "flops": "20M or 1.5G FLOPs", "latency": "5ms or 500us"}
NUMBER = re.compile(r"^\s*(?P<value>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(?P<suffix>[A-Za-z]*)\s*$")


def parse_budget(value: Any, metric: str) -> float:
    """A budget in ``metric``'s base unit: a number as it is, or a string with a suffix (``0.5M``, ``20M``, ``5ms``).

    Raises a one-line ``ValueError`` naming the value and the accepted forms.
    """
    if isinstance(value, bool):
        number = None
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        match = NUMBER.match(str(value))
        factor = SUFFIXES[metric].get(match["suffix"]) if match else None
        number = None if factor is None else float(match["value"]) * factor
    if number is None or not math.isfinite(number) or number <= 0:
        raise ValueError(
            f"budget = {value!r} is not a positive {metric} budget; write it as e.g. {EXAMPLES[metric]} "
            f"(suffixes {', '.join(s for s in SUFFIXES[metric] if s)})"
        )
    return number


COST_SIZE_KEYS = ("channels", "cells_per_stage", "image_size")  # what --cost-size may set


def check_costs(
    cost: str | None, cost_weight: float | None, budget: Any, cost_size: Mapping | None = None
) -> dict[str, Any]:
    """The resolved ``{cost, cost_weight, budget, cost_size}``: the weight 1 by default, the budget in base units.

    Raises a one-line ``ValueError`` for an unknown metric, a weight, budget or size without a metric, or a
    size with an unknown key or a value that is not a positive integer.
    """
    cost_size = dict(cost_size or {})
    if cost is None:
        for name, value in (("cost_weight", cost_weight), ("budget", budget), ("cost_size", cost_size or None)):
            if value is not None:
                raise ValueError(f"{name} = {value!r} needs a cost metric: add --cost {' / '.join(COST_METRICS)}")
        return {"cost": None, "cost_weight": None, "budget": None, "cost_size": {}}
    if cost not in COST_METRICS:
        raise ValueError(f"unknown cost {cost!r}; choose one of: {', '.join(COST_METRICS)} (or none)")
    for key, value in cost_size.items():
        if key not in COST_SIZE_KEYS:
            raise ValueError(f"unknown cost_size key {key!r}; choose from: {', '.join(COST_SIZE_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"cost_size {key} = {value!r} must be a positive integer")
    weight = 1.0 if cost_weight is None else cost_weight
    budget = None if budget is None else parse_budget(budget, cost)
    return {"cost": cost, "cost_weight": weight, "budget": budget, "cost_size": cost_size}


def reported(value: float, metric: str) -> float:
    """A cost in ``metric``'s base unit in its reported unit (:data:`UNITS`)."""
    return value * UNITS[metric][0]
