"""Registry of search methods: a name -> the model and guide classes and the method's protocol.

A method exports a :class:`MethodSpec` next to its code (``models/<name>.py`` ends with ``SPEC = ...``)
and is found as a plugin: through the ``pyronas.methods`` entry-point group of any installed package
(``gumbel = "my_package.gumbel:SPEC"``), the modules of ``pyronas.models``, or :func:`register` in the
running process. The engine never imports a method by name. The contract a pair must meet is
:mod:`pyronas.infer.contract`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from dataclasses import dataclass, field

from torch import nn

from pyronas.plugins import PluginRegistry
from pyronas.spaces import SearchSpace

ENTRY_POINTS = "pyronas.methods"


@dataclass(frozen=True)
class MethodSpec:
    """How to build one method.

    Attributes:
        name: registry key (``--method``).
        model, guide: the model and guide classes, or their ``"module:Class"`` paths.
        protocol: defaults of the search loop for this method (``epochs``, ``warmup_epochs``,
            ``weight_decay``, ``arch_optim``, ``arch_lr``, ``arch_weight_decay``), taken from
            ``shared/METHODS.md``; ``stages`` names a progressive schedule (dicts of
            :class:`~pyronas.infer.stages.Stage` fields) that ``--progressive`` runs; the step protocol
            (``step_order``, ``nesterov``, ``grad_clip_span``, ``valid_batches``); and ``spaces``, per space
            name, entries that override the others on that space (resolved by :func:`pyronas.config.resolve`).
        description: one line for ``pyronas methods``.
    """

    name: str
    model: str | type
    guide: str | type
    protocol: dict = field(default_factory=dict)
    description: str = ""

    @staticmethod
    def _load(path: str | type) -> type:
        if not isinstance(path, str):
            return path
        module, _, attr = path.partition(":")
        return getattr(importlib.import_module(module), attr)

    def build(self, supernet: nn.Module, space: SearchSpace, **options) -> tuple[nn.Module, nn.Module]:
        """Instantiate ``(model, guide)``; each option goes to whichever constructor accepts it."""
        model_cls, guide_cls = self._load(self.model), self._load(self.guide)
        model_params = inspect.signature(model_cls).parameters
        guide_params = inspect.signature(guide_cls).parameters
        unknown = [k for k in options if k not in model_params and k not in guide_params]
        if unknown:
            raise ValueError(f"method {self.name!r} has no option(s) {', '.join(unknown)}; see pyronas methods")
        model = model_cls(supernet, space, **{k: v for k, v in options.items() if k in model_params})
        guide = guide_cls(space, **{k: v for k, v in options.items() if k in guide_params})
        return model, guide

    def options(self) -> dict[str, object]:
        """The method's own options with their defaults (union of model and guide keywords)."""
        out = {}
        for cls in (self._load(self.model), self._load(self.guide)):
            for name, p in inspect.signature(cls).parameters.items():
                if name not in ("supernet", "space") and p.default is not inspect.Parameter.empty:
                    out[name] = p.default
        return out


def _method_name(spec: object, entry_point: str | None) -> str:
    if not isinstance(spec, MethodSpec):
        raise ValueError(f"entry point {entry_point!r} of {ENTRY_POINTS} is no MethodSpec: {spec!r}")
    return spec.name


METHODS = PluginRegistry("pyronas.models", "SPEC", ENTRY_POINTS, "method", _method_name)
"""``{name: MethodSpec}``: ``pyronas.models``' ``SPEC``s, the ``pyronas.methods`` entry points, :func:`register`."""


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method to the registry of this process (overwrites an entry of the same name)."""
    METHODS[spec.name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))} "
            f"(or install a plugin that adds it to the {ENTRY_POINTS!r} entry points)"
        ) from None
