"""What the engine asks of a method's model and guide, written as ``typing.Protocol``s and checked at build time.

A method is a model + guide pair. The engine calls only the hooks below; :func:`check_pair` names
the first missing one in a one-line ``TypeError`` before any data is touched.

- :class:`ArchitectureModel` (required): ``forward(images, labels)`` samples the architecture sites
  and calls :func:`~pyronas.infer.primitives.classify`; ``arch()`` samples the same sites and returns
  mixing weights ``{cell_type: [E, K]}`` without touching the supernet (posterior draws replay it under
  guide traces). An optional ``kl_weight`` attribute (float, default 1) is the factor of the model's
  architecture log-densities: NGVI's ``num_data`` is ``1 / kl_weight`` and a user's guide gets the
  same per-site factors (:class:`~pyronas.infer.adapted_guide.AdaptedGuide`).
- :class:`ArchitectureGuide` (required): ``forward(images, labels)`` samples the architecture sites;
  ``op_probabilities()`` returns ``{cell_type: [E, K]}`` probabilities that derive the cell. Guides
  that lack it (Pyro's autoguides) get it from :class:`~pyronas.infer.adapted_guide.AdaptedGuide`.
- :class:`Prunable` (optional, model, guide and supernet): ``prune(keep)`` with ``keep = {cell_type:
  bool [E, K]}``; needed by stages with ``keep_ops`` (progressive DrNAS) and by compression.
- :class:`Summarized` (optional, model and guide): ``summary() -> dict``; both merged are stored as
  ``result.json``'s ``method_summary``.

Parameters: the supernet's are the weights (stepped on training batches), every other parameter of
model and guide the architecture (stepped on validation batches): ``PyroParam``s anywhere in the module trees
(a PyroModule held by a plain module included), ``nn.Parameter``s and plain ``pyro.param`` sites are all learned
and checkpointed (:mod:`pyronas.infer.params`, which also names the patterns it refuses). A Gaussian guide fitted
by NGVI names its parameters ``<prefix>.locs.<x>`` / ``<prefix>.scales.<x>`` (:func:`pyronas.optim.pair_by_name`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class ArchitectureModel(Protocol):
    def __call__(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...

    def arch(self) -> dict[str, torch.Tensor]: ...


@runtime_checkable
class ArchitectureGuide(Protocol):
    def __call__(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> None: ...

    def op_probabilities(self) -> dict[str, torch.Tensor]: ...


@runtime_checkable
class Prunable(Protocol):
    def prune(self, keep: dict[str, torch.Tensor]) -> None: ...


@runtime_checkable
class Summarized(Protocol):
    def summary(self) -> dict: ...


class ContractError(TypeError):
    """A model or guide that lacks a hook the engine calls."""


HOOKS = {
    "model": (ArchitectureModel, ("__call__", "arch")),
    "guide": (ArchitectureGuide, ("__call__", "op_probabilities")),
}


def missing_hooks(part: object, role: str) -> list[str]:
    """The required hooks of ``role`` (``"model"`` or ``"guide"``) that ``part`` lacks."""
    return [hook for hook in HOOKS[role][1] if not callable(getattr(part, hook, None))]


def check_pair(model: object, guide: object, method: str = "the method") -> None:
    """Raise a one-line :class:`ContractError` naming the first hook the pair lacks (see the module docstring)."""
    for role, part in (("model", model), ("guide", guide)):
        missing = missing_hooks(part, role)
        if missing:
            raise ContractError(
                f"{method}'s {role} {type(part).__name__} has no {missing[0]}(); a {role} needs "
                f"{' and '.join(h + '()' for h in HOOKS[role][1][1:])} (see pyronas.infer.contract)"
            )
    kl = getattr(model, "kl_weight", 1.0)
    if not isinstance(kl, (int, float)) or kl < 0:
        raise ContractError(f"{method}'s model has kl_weight={kl!r}; it must be a float >= 0")
