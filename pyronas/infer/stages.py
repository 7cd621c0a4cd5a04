"""Search stages: consecutive runs of epochs between which the supernet changes.

A stage is entered before its first epoch. If it names ``keep_ops``, every edge is first pruned
to its ``keep_ops`` most probable ops by the guide's ``op_probabilities()``; then, if it names
``partial_channels``, the supernet is rebuilt for that many partial channels. Each stage has its
own architecture warm-up. The engine sees the parts only through small protocols:

- supernet: ``partial_channels`` (int) and ``set_partial_channels(k)``, which returns the map that
  carries a replaced parameter's optimizer state to its new shape (or ``None``); ``prune(keep)``;
- model and guide: ``prune(keep)``, ``keep = {cell_type: bool [E, K]}`` (true = kept).

Supernet parameters that a stage replaces or removes leave Pyro's param store (``pyro.module``
registers the new ones on the next step) and the weight optimizer (``replace_params``), whose
state for them is carried (widening) or dropped (re-initialised ops).

References:
    [1] X. Chen et al. DrNAS: Dirichlet Neural Architecture Search. ICLR 2021 (progressive learning).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import pyro
import torch

from pyronas.infer.primitives import SUPERNET
from pyronas.infer.pruning import top_k_keep


@dataclass(frozen=True)
class Stage:
    """One stage of a search.

    Attributes:
        epochs: epochs in the stage (>= 1).
        warmup_epochs: weight-only epochs at the start of the stage.
        partial_channels: the supernet's partial channels ``K`` in this stage (``None``: leave as is).
        keep_ops: prune each edge to this many ops on entering the stage (``None``: no pruning).
    """

    epochs: int
    warmup_epochs: int = 0
    partial_channels: int | None = None
    keep_ops: int | None = None

    def __post_init__(self):
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"a stage needs epochs >= 1, got {self.epochs!r}")
        if not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            raise ValueError(f"a stage's warmup_epochs must be >= 0, got {self.warmup_epochs!r}")
        for name in ("partial_channels", "keep_ops"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"a stage's {name} must be a positive integer or None, got {value!r}")


def as_stages(stages: Iterable[Stage | Mapping]) -> list[Stage]:
    """``Stage`` objects from stages or dicts of their fields; raises ``ValueError`` if none or malformed."""
    out = []
    for stage in stages:
        if isinstance(stage, Mapping):
            unknown = set(stage) - set(Stage.__dataclass_fields__)
            if unknown:
                fields = ", ".join(Stage.__dataclass_fields__)
                raise ValueError(f"unknown stage field(s) {', '.join(sorted(unknown))}; a stage has: {fields}")
            stage = Stage(**stage)
        if not isinstance(stage, Stage):
            raise TypeError(f"a stage is a Stage or a dict of its fields, got {type(stage).__name__}")
        out.append(stage)
    if not out:
        raise ValueError("give at least one stage")
    return out


def scale_stages(
    stages: Iterable[Stage | Mapping], epochs: int | None, warmup_epochs: int | None = None
) -> list[Stage]:
    """Stretch a schedule to ``epochs`` in total, each stage keeping its share (and its warm-up's share).

    Stage boundaries are rounded cumulatively, so the stages add up to ``epochs`` exactly.
    ``warmup_epochs``, if given, replaces every stage's warm-up.
    """
    stages = as_stages(stages)
    total = sum(s.epochs for s in stages)
    epochs = total if epochs is None else epochs
    if epochs < len(stages):
        raise ValueError(f"{epochs} epochs cannot hold {len(stages)} stages; give --epochs >= {len(stages)}")
    bounds = [round(cum * epochs / total) for cum in itertools.accumulate(s.epochs for s in stages)]
    out = []
    for stage, start, end in zip(stages, [0, *bounds], bounds):
        if end <= start:
            raise ValueError(f"{epochs} epochs leave a stage of the schedule empty; give more epochs")
        warm = round(stage.warmup_epochs * (end - start) / stage.epochs) if warmup_epochs is None else warmup_epochs
        out.append(replace(stage, epochs=end - start, warmup_epochs=warm))
    return out


def _require(part: object, method: str, what: str) -> None:
    if not callable(getattr(part, method, None)):
        raise TypeError(f"{type(part).__name__} has no {method}(); {what}")


def enter_stage(
    stage: Stage,
    supernet: torch.nn.Module,
    model: object,
    guide: object,
    weight_optim: object,
    keep: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor] | None:
    """Prune and re-channel the supernet for ``stage``; returns the op masks applied (``None``: no pruning).

    ``keep`` replays masks recorded earlier (resuming) instead of choosing the top ops anew.
    """
    before = dict(supernet.named_parameters())
    if stage.keep_ops is not None:
        for part in (supernet, model, guide):
            _require(part, "prune", "this method cannot prune ops; drop keep_ops from the stages")
        if keep is None:
            keep = top_k_keep(guide.op_probabilities(), stage.keep_ops)
        keep = {cell: mask.cpu() for cell, mask in keep.items()}
        for part in (supernet, model, guide):
            part.prune(keep)
    carry = None
    if stage.partial_channels is not None and stage.partial_channels != getattr(supernet, "partial_channels", 1):
        _require(supernet, "set_partial_channels", "this search space has no partial channels; drop partial_channels")
        carry = supernet.set_partial_channels(stage.partial_channels)
    after = dict(supernet.named_parameters())
    store = pyro.get_param_store()
    old = {name: p for name, p in before.items() if after.get(name) is not p}
    # the store's names for the replaced tensors, asked of the store (its name scheme is Pyro's own)
    swapped = {store.param_name(p) or f"{SUPERNET}.{name}": after.get(name) for name, p in old.items()}
    if swapped:
        for name in swapped:
            if name in store:
                del store[name]
        _require(weight_optim, "replace_params", "use a weight optimizer that can swap parameters (GroupedOptim)")
        weight_optim.replace_params(swapped, carry)
    return keep if stage.keep_ops is not None else None
