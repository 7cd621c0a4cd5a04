"""Any Pyro guide over a method's architecture sites, made a full architecture guide.

:class:`AdaptedGuide` wraps a guide (an autoguide such as ``AutoNormal``, or any callable) and

- gives each of its sample sites the scale and mask the model's site of the same name has (the
  model's :func:`~pyronas.infer.primitives.kl_weight`), so the ELBO weighs ``log q`` like ``log p``;
- provides ``op_probabilities()`` when the guide has none: the mean mixing weights of ``model.arch()``
  replayed under ``num_draws`` guide draws (Monte Carlo, seeded, without touching the global RNG).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping

import pyro
import torch
from pyro import poutine
from pyro.poutine.messenger import Messenger

AUXILIARY_SUFFIX = "_unconstrained"  # AutoNormal's auxiliary site of site ``x`` is ``x_unconstrained``
FIX = "name an autoguide that covers every site, e.g. --guide AutoNormal (Python: guide=AutoNormal or a full guide)"


class SiteScales(Messenger):
    """Give each sample site of a guide the scale and mask of the model's site it stands for.

    A site stands for the model site of the same name, or of its name without ``_unconstrained``
    (``AutoNormal``'s auxiliary sites); any other site (``AutoContinuous``' joint latent) gets the model
    sites' common scale and mask, if they share one.
    """

    def __init__(self, scales: dict[str, float | torch.Tensor], masks: dict[str, object]):
        super().__init__()
        self.scales, self.masks = scales, masks
        common = {float(v) for v in scales.values()}, {repr(v) for v in masks.values()}
        self.common = (
            (next(iter(scales.values())), next(iter(masks.values()))) if len(common[0]) == len(common[1]) == 1 else None
        )

    def _process_message(self, msg: dict) -> None:
        if msg["type"] != "sample" or msg["is_observed"]:
            return
        name = msg["name"]
        if name not in self.scales and name.endswith(AUXILIARY_SUFFIX):
            name = name[: -len(AUXILIARY_SUFFIX)]
        if name in self.scales:
            scale, mask = self.scales[name], self.masks.get(name)
        elif self.common is not None:
            scale, mask = self.common
        else:
            return
        msg["scale"] = scale * msg["scale"]
        if mask is not None:
            msg["mask"] = mask if msg["mask"] is None else mask & msg["mask"]


def arch_sites(model: torch.nn.Module) -> Callable:
    """The model's architecture sites alone (``model.arch()``, the supernet hidden), as a model for autoguides."""

    def architecture(images: torch.Tensor | None = None, labels: torch.Tensor | None = None):
        return model.arch()

    return architecture


class AdaptedGuide(torch.nn.Module):
    """``guide`` with the model's per-site scaling and, if it lacks them, generic ``op_probabilities()``.

    Args:
        guide: a guide over the model's architecture sites (a ``torch.nn.Module`` keeps its state in
            this module's ``state_dict``).
        model: the method's model (provides ``arch()`` and the sites' scales).
        num_draws: guide draws averaged by the generic ``op_probabilities()``.
        seed: seed of those draws (the global RNG state is restored afterwards).
    """

    def __init__(self, guide: Callable, model: torch.nn.Module, num_draws: int = 32, seed: int = 0):
        super().__init__()
        self.guide = guide
        self._model = (model,)  # not a submodule: its state is the model's
        self.num_draws, self.seed = num_draws, seed
        with torch.no_grad():
            sites = poutine.trace(model.arch).get_trace().nodes.values()
        sites = [s for s in sites if s["type"] == "sample" and not s["is_observed"]]
        self._scales = SiteScales({s["name"]: s["scale"] for s in sites}, {s["name"]: s["mask"] for s in sites})
        with torch.no_grad():
            self.forward()  # create lazily initialised parameters (autoguides) before any state is loaded
        self._check_serves(sites)

    def _check_serves(self, sites: list[dict]) -> None:
        """Refuse, in one line, a guide that misses some of the model's sites or has nothing to learn."""
        with torch.no_grad(), poutine.block():
            trace = poutine.trace(self.forward).get_trace()
        sampled = {n.removesuffix(AUXILIARY_SUFFIX) for n, s in trace.nodes.items() if s["type"] == "sample"}
        missing = [s["name"] for s in sites if s["name"] not in sampled]
        name = type(self.guide).__name__
        if missing:
            empty = isinstance(self.guide, pyro.infer.autoguide.AutoGuideList) and not sampled
            parts = " (an AutoGuideList needs its parts, appended in Python)" if empty else ""
            raise ValueError(f"guide {name} does not sample the model's site(s) {', '.join(missing)}{parts}; {FIX}")
        has_params = any(s["type"] == "param" for s in trace.nodes.values()) or any(
            True for _ in getattr(self.guide, "parameters", lambda: ())()
        )
        if not has_params:
            raise ValueError(f"guide {name} has no parameters to learn; {FIX}")

    def forward(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None):
        with self._scales:
            return self.guide(images, labels)

    @torch.no_grad()
    def op_probabilities(self) -> dict[str, torch.Tensor]:
        """``{cell: [E, K]}``: the guide's own, else the mean of ``model.arch()`` under guide draws."""
        own = getattr(self.guide, "op_probabilities", None)
        if callable(own):
            return own()
        model = self._model[0]
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
        total: dict[str, torch.Tensor] = {}
        with torch.random.fork_rng(devices=devices), poutine.block():
            torch.manual_seed(self.seed)
            for _ in range(self.num_draws):
                trace = poutine.trace(self.guide).get_trace()
                for cell, w in poutine.replay(model.arch, trace=trace)().items():
                    total[cell] = total.get(cell, 0) + w.float()
        return {cell: w / self.num_draws for cell, w in total.items()}

    def prune(self, keep: dict[str, torch.Tensor]) -> None:
        if not callable(getattr(self.guide, "prune", None)):
            raise TypeError(f"{type(self.guide).__name__} cannot prune ops; drop keep_ops from the stages")
        self.guide.prune(keep)

    def summary(self) -> dict | None:
        own = getattr(self.guide, "summary", None)
        return own() if callable(own) else None


def adapt_guide(guide: object, model: torch.nn.Module, args: Mapping | None = None) -> AdaptedGuide:
    """A guide object, a guide class (called with :func:`arch_sites` of ``model`` and keyword ``args``) or the name
    of a class in ``pyro.infer.autoguide``, adapted to ``model``; one-line ``ValueError`` for a guide that cannot serve.
    """
    args = dict(args or {})
    if isinstance(guide, str) and guide.startswith("python:"):  # a class recorded by pyronas.config
        module, _, name = guide[len("python:") :].rpartition(".")
        guide = getattr(importlib.import_module(module), name)
    if isinstance(guide, str):
        guide = autoguide_class(guide)
    if isinstance(guide, type):
        try:
            guide = guide(arch_sites(model), **args)
        except TypeError as e:
            allowed = ", ".join(p for p in inspect.signature(guide).parameters if p not in ("self", "model"))
            raise ValueError(
                f"guide {guide.__name__} cannot be built from the model with --guide-args {args} ({e}); its "
                f"arguments: {allowed or 'none'}"
            ) from None
    elif args:
        raise ValueError("guide_args (--guide-args) need a guide class; pass the arguments to the guide object")
    if not callable(guide):
        raise TypeError(f"a guide must be callable, got {type(guide).__name__}")
    try:
        return AdaptedGuide(guide, model)
    except NotImplementedError:
        raise ValueError(f"guide {type(guide).__name__} is an abstract base and cannot serve; {FIX}") from None


def autoguide_names() -> tuple[str, ...]:
    """The classes of ``pyro.infer.autoguide`` by name."""
    found = ((n, getattr(pyro.infer.autoguide, n)) for n in sorted(dir(pyro.infer.autoguide)))
    return tuple(n for n, c in found if isinstance(c, type) and issubclass(c, torch.nn.Module))


def autoguide_class(name: str) -> type:
    """The class ``name`` of ``pyro.infer.autoguide``; one-line ``ValueError`` naming the choices otherwise."""
    if name not in autoguide_names():
        choices = ", ".join(autoguide_names())
        raise ValueError(f"unknown guide {name!r}; name a class of pyro.infer.autoguide: {choices}")
    return getattr(pyro.infer.autoguide, name)
