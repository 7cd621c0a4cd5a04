"""Resolution of a search's settings, once and in layers: what the user gave > the method's protocol for the
space > the data set's defaults > the space's > the generic defaults; derived values follow from them.

:func:`resolve` returns a config without ``None`` where a value is needed: ``stages`` holds the schedule (dicts of
:class:`~pyronas.infer.stages.Stage` fields) and ``epochs`` their total, ``progressive`` and ``partial_channels``
folded into them; each optimizer has its rate and weight decay. Resolving a resolved config changes nothing.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from typing import Any

from pyronas.config import BENCHMARK_ENV, FIELDS, SearchConfig
from pyronas.config_optim import resolve_arch, resolve_weight_optim
from pyronas.names import AMP_NAMES, CLIP_SPANS, DRAWS, STEP_ORDERS

# The embedded digits data (8x8 images, 1,797 of them) is a demo: unless told otherwise, search it with a short
# schedule (at most 20 epochs) and a small supernet (C=8, one cell per stage) so that a search takes about a minute
# on a CPU. Its 20 epochs give 280 architecture updates instead of the published NB201 search's 39,100, so an
# Adam architecture optimizer gets the published run's budget of steps, lr x updates = 3e-4 x 39,100 ~ 11.7,
# as lr 0.04; and no weight decay: the supernet fits digits within a few epochs, the data gradient on the
# architecture then vanishes, and the published L2 of 1e-3 (tuned to CIFAR's gradients) would hold the
# posterior near its prior (measured: largest op probability 0.30-0.48 per edge with it, 0.32-0.45 without).
DATASET_DEFAULTS = {
    "digits": {
        "max_epochs": 20,
        "cells_per_stage": 1,
        "channels": 8,
        "arch": {"adam": {"arch_lr": 0.04, "arch_weight_decay": 0.0}},
    }
}
GENERIC = {"epochs": 50, "warmup_epochs": 0, "weight_decay": 3e-4, "channels": 16}  # under every other layer
# the step protocol (how one search iteration is taken): its settings and their choices
STEP_PROTOCOL = {"step_order": STEP_ORDERS, "grad_clip_span": CLIP_SPANS, "valid_batches": DRAWS, "nesterov": None}


PROTOCOL_KEYS = ("epochs", "warmup_epochs", "weight_decay", "arch_optim", "arch_lr", "arch_weight_decay", "stages",
                 *STEP_PROTOCOL)  # fmt: skip  # the settings a method's protocol may set (the layer it fills)


def check_protocol(method: str, protocol: Mapping, where: str = "protocol") -> None:
    """A method's protocol is a partial config of :data:`PROTOCOL_KEYS` (and ``spaces``: one per space name),
    each value of its setting's type; ``stages`` a list of :class:`~pyronas.infer.stages.Stage` dicts."""
    from pyronas.config_types import problem
    from pyronas.infer.stages import Stage

    hints = typing.get_type_hints(SearchConfig)
    allowed = (*PROTOCOL_KEYS, "spaces") if where == "protocol" else PROTOCOL_KEYS
    for key, value in protocol.items():
        if key not in allowed:
            raise ValueError(f"method {method!r}: {where} has no setting {key!r}; allowed: {', '.join(allowed)}")
        if key == "spaces":
            if not isinstance(value, Mapping):
                raise ValueError(f"method {method!r}: protocol spaces = {value!r} must map space names to settings")
            for space, own in value.items():
                check_protocol(method, own, f"protocol spaces[{space!r}]")
            continue
        must = problem(value, hints[key], FIELDS[key].metadata.get("choices") or STEP_PROTOCOL.get(key))
        if key == "stages" and must is None:
            stage_keys = {f.name for f in dataclasses.fields(Stage)}
            bad = [s for s in value if not isinstance(s, Mapping) or set(s) - stage_keys or "epochs" not in s]
            must = f"a list of stage dicts with epochs and any of: {', '.join(sorted(stage_keys))}" if bad else None
        if value is None or must is not None:
            raise ValueError(f"method {method!r}: {where} {key} = {value!r} is not valid: it must be {must}")


CELLS = "cells_per_stage"


def space_protocol(protocol: Mapping, space: str) -> dict:
    """A method's protocol for one space: its ``spaces[space]`` entries over the rest (``spaces`` dropped)."""
    own = dict(protocol)
    per_space = own.pop("spaces", {}).get(space, {})
    return {**own, **per_space}


def first(*layers: Mapping, name: str) -> Any:
    """The value of ``name`` in the first layer that sets it (not to ``None``)."""
    return next((layer[name] for layer in layers if layer.get(name) is not None), None)


def resolve(config: SearchConfig, protocol: Mapping, space: Any) -> SearchConfig:
    """``config`` with every ``None`` filled in from the layers and the combination checked (one-line errors).

    ``protocol`` is the method's (:attr:`pyronas.registry.MethodSpec.protocol`), ``space`` the
    :class:`~pyronas.spaces.SearchSpace`.
    """
    from pyronas.costs.units import check_costs
    from pyronas.validate import SEARCH_LIMITS, check_device, check_limits, check_out_dir, check_stages

    c, method = config, space_protocol(protocol, space.name)
    dataset = DATASET_DEFAULTS.get(c.dataset, {})
    stages = _stages(c, method, dataset)
    given = {k: v for k, v in c.items() if v is not None}
    _check(c, space)
    step = {}
    for name, choices in STEP_PROTOCOL.items():
        step[name] = first(given, method, {name: FIELDS[name].metadata["before"]}, name=name)
        if choices is not None and step[name] not in choices:
            raise ValueError(f"unknown {name} {step[name]!r}; choose one of: {', '.join(choices)}")
    weights = resolve_weight_optim(c)
    benchmark = c.benchmark if c.benchmark is not None or space.name != "nb201" else os.environ.get(BENCHMARK_ENV)
    resolved = c.replace(
        epochs=sum(st["epochs"] for st in stages),
        warmup_epochs=stages[0]["warmup_epochs"] if len(stages) == 1 else None,  # multi-stage: per stage
        progressive=False,
        partial_channels=None,
        stages=stages,
        cells_per_stage=first(given, dataset, {"cells_per_stage": space.default_cells_per_stage}, name=CELLS),
        channels=first(given, dataset, GENERIC, name="channels"),
        **{**weights, "weight_decay": first(weights, method, GENERIC, name="weight_decay")},
        **resolve_arch(c, method, dataset.get("arch", {})),
        benchmark=str(benchmark) if benchmark else None,
        method_options=dict(c.method_options or {}),
        **step,
        **check_costs(c.cost, c.cost_weight, c.budget, c.cost_size),
    )
    unsized = [] if getattr(space, "sized", True) else sorted(set(resolved.cost_size) & {"channels", "cells_per_stage"})
    if unsized:
        raise ValueError(f"--cost-size {unsized[0]} does not apply to {space.name}: its factory fixes the network's "
                         "size; give only image_size")  # fmt: skip
    if resolved.budget is not None and c.select != "argmax":
        raise ValueError(f"--budget constrains the argmax architecture; drop --select {c.select} or --budget")
    check_device(c.device)
    check_out_dir(c.out_dir)
    check_stages(list(stages))
    check_limits(resolved, SEARCH_LIMITS, "search")
    return resolved


def _stages(c: SearchConfig, method: Mapping, dataset: Mapping) -> tuple[dict, ...]:
    """The schedule: the given stages, the method's progressive ones, or one stage; scaled to the epochs given
    (or, on a demo data set, to at most its ``max_epochs``)."""
    from pyronas.config_json import stage_dicts
    from pyronas.infer.stages import scale_stages

    if sum([bool(c.progressive), c.partial_channels is not None, c.stages is not None]) > 1:
        raise ValueError("give only one of progressive, partial_channels and stages")
    if c.progressive and "stages" not in method:
        raise ValueError(f"method {c.method!r} has no progressive schedule; give stages=[...] or partial_channels")
    method_epochs = first(method, GENERIC, name="epochs")
    base = method["stages"] if c.progressive else c.stages
    epochs = c.epochs
    if epochs is None and "max_epochs" in dataset and c.stages is None:  # the demo shortens the method's schedule
        total = method_epochs if base is None else sum(st["epochs"] for st in base)
        epochs = min(total, dataset["max_epochs"])
    if base is not None:
        return stage_dicts(scale_stages(base, epochs, c.warmup_epochs))
    epochs = method_epochs if epochs is None else epochs
    warmup = c.warmup_epochs
    if warmup is None:  # keep the method's share of warm-up epochs
        warmup = round(first(method, GENERIC, name="warmup_epochs") * epochs / method_epochs)
    return stage_dicts([{"epochs": epochs, "warmup_epochs": warmup, "partial_channels": c.partial_channels}])


def _check(c: SearchConfig, space: Any) -> None:
    """The settings that need no layer: ELBO, guide, fast path, benchmark table and selection rule."""
    from pyronas.select import ARGMAX, VALID, parse_rule

    _check_elbo(c.elbo, c.elbo_args)
    _check_guide(c.guide, c.guide_args)
    if c.amp is not None and c.amp not in AMP_NAMES:
        raise ValueError(f"unknown amp {c.amp!r}; choose one of: {', '.join(AMP_NAMES)} (or none)")
    if c.compile and c.single_path:
        raise ValueError("compile and single_path do not combine (every drawn path would be a new graph); drop one")
    if c.benchmark is not None and space.name != "nb201":
        raise ValueError(f"the NB201 table only looks up nb201 cells; drop --benchmark for --space {space.name}")
    parse_rule(c.select)  # fail before the search on a malformed rule
    if c.select == VALID and c.select_batches < 1:
        raise ValueError(f"select_batches must be >= 1, got {c.select_batches}")
    if c.select != ARGMAX and not (isinstance(c.samples, int) and c.samples >= 1):
        raise ValueError(f"--select {c.select} needs --samples >= 1, got {c.samples!r}")


def _check_elbo(elbo: Any, args: Mapping) -> None:
    """A named ELBO is known and takes ``args``; arguments need a named ELBO."""
    if not isinstance(elbo, str):
        if args:
            raise ValueError("elbo_args need an ELBO given by name; pass them to the ELBO object")
        return
    from pyronas.infer.elbos import make_elbo

    make_elbo(elbo, args)


def _check_guide(guide: Any, args: Mapping) -> None:
    """A named guide is an autoguide class; arguments need a guide class."""
    from pyronas.config_json import PYTHON_OBJECT

    if args and (guide is None or not (isinstance(guide, (str, type)))):
        raise ValueError("guide_args (--guide-args) need a guide class (--guide), e.g. --guide AutoNormal")
    if isinstance(guide, str) and not guide.startswith(PYTHON_OBJECT):
        from pyronas.infer.adapted_guide import autoguide_class

        autoguide_class(guide)
