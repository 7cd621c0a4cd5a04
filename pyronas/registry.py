"""Registry of search methods: a name -> the model and guide classes and the method's protocol.

A method exports a :class:`MethodSpec` next to its code (``models/<name>.py`` ends with ``SPEC = ...``)
and is found as a plugin: through the ``pyronas.methods`` entry-point group of any installed package
(``gumbel = "my_package.gumbel:SPEC"``), the modules of ``pyronas.models``, or :func:`register` in the
running process. The engine never imports a method by name. The contract a pair must meet is
:mod:`pyronas.infer.contract`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import inspect
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyronas.plugins import PluginRegistry

if TYPE_CHECKING:
    from torch import nn

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
            It is a partial config: checked when the spec is made (:func:`pyronas.config_resolve.check_protocol`).
        description: one line for ``pyronas methods``.
        option_bounds: the range of each numeric option, declared: ``{option: "positive" | "non-negative" |
            "fraction"}`` (fraction: 0 <= value <= 1), checked with the options' types.
    """

    name: str
    model: str | type
    guide: str | type
    protocol: dict = field(default_factory=dict)
    description: str = ""
    option_bounds: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from pyronas.config_resolve import check_protocol

        check_protocol(self.name, self.protocol)  # a misspelt or wrongly-typed setting fails here, in one line
        for name, bound in self.option_bounds.items():
            if bound not in BOUNDS:
                raise ValueError(
                    f"method {self.name!r}: option_bounds[{name!r}] = {bound!r}; one of {', '.join(BOUNDS)}"
                )

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
        return {name: default for name, (_, default) in self.option_types().items()}

    def option_types(self) -> dict[str, tuple[Any, object]]:
        """``{option: (type, default)}``: each keyword of the model's and guide's constructors that has a default,
        typed by its annotation, else by its default's type (``Any`` for a ``None`` default)."""
        out = {}
        for cls in (self._load(self.model), self._load(self.guide)):
            try:
                hints = typing.get_type_hints(cls.__init__)
            except (NameError, TypeError):  # an annotation that names what only type checkers import
                hints = {}
            for name, p in inspect.signature(cls).parameters.items():
                if name not in ("supernet", "space") and p.default is not inspect.Parameter.empty:
                    out[name] = (hints.get(name, Any if p.default is None else type(p.default)), p.default)
        return out

    def check_options(self, options: Mapping[str, object]) -> dict[str, object]:
        """``options`` (``--option KEY=VALUE``) converted to the constructors' types: an integer for a number, a
        JSON text for a value of another type; a one-line ``ValueError`` names an unknown option or a bad value
        with the method's options."""
        from pyronas.config_types import problem

        declared = self.option_types()
        listing = ", ".join(f"{k}={d!r}" for k, (_, d) in declared.items()) or "none"
        out = {}
        for name, value in options.items():
            if name not in declared:
                raise ValueError(f"method {self.name!r} has no option {name!r}; its options: {listing}")
            kind, _ = declared[name]
            if isinstance(value, str) and kind is not str and problem(value, kind) is not None:
                with contextlib.suppress(json.JSONDecodeError):
                    value = json.loads(value)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            must = problem(value, kind) or _out_of_bounds(value, self.option_bounds.get(name))
            if must is not None:
                raise ValueError(f"--option {name}={value!r} is not valid for {self.name}: it must be {must}; "
                                 f"its options: {listing}")  # fmt: skip
            out[name] = value
        return out


BOUNDS = {  # option_bounds' names: (test, what the value must be)
    "positive": (lambda v: v > 0, "> 0"),
    "non-negative": (lambda v: v >= 0, ">= 0"),
    "fraction": (lambda v: 0 <= v <= 1, "between 0 and 1"),
}


def _out_of_bounds(value: object, bound: str | None) -> str | None:
    """What ``value`` must be under a declared bound, or ``None`` if it is within it (or there is none)."""
    if bound is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    test, what = BOUNDS[bound]
    return None if test(value) else what


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
