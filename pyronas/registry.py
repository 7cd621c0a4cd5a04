"""Registry of search methods: a name -> the model and guide classes and the method's protocol.

Methods live in ``models/<name>.py`` and ``guides/<name>.py`` (installed as ``pyronas.models``
and ``pyronas.guides``); the registry only names them, so the engine never imports a method.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field

from torch import nn

from pyronas.spaces import SearchSpace


@dataclass(frozen=True)
class MethodSpec:
    """How to build one method.

    Attributes:
        name: registry key.
        model, guide: ``"module:Class"`` paths of the model and guide classes.
        protocol: defaults of the search loop for this method (``epochs``, ``warmup_epochs``,
            ``weight_decay``, ...), taken from ``shared/METHODS.md``; ``stages`` names a progressive
            schedule (dicts of :class:`~pyronas.infer.stages.Stage` fields) that ``--progressive`` runs.
        description: one line for ``--help``.
    """

    name: str
    model: str
    guide: str
    protocol: dict = field(default_factory=dict)
    description: str = ""

    @staticmethod
    def _load(path: str):
        module, _, attr = path.partition(":")
        return getattr(importlib.import_module(module), attr)

    def build(self, supernet: nn.Module, space: SearchSpace, **options) -> tuple[nn.Module, nn.Module]:
        """Instantiate ``(model, guide)``; each option goes to whichever constructor accepts it."""
        model_cls, guide_cls = self._load(self.model), self._load(self.guide)
        model_params = inspect.signature(model_cls).parameters
        guide_params = inspect.signature(guide_cls).parameters
        unknown = [k for k in options if k not in model_params and k not in guide_params]
        if unknown:
            raise ValueError(f"method {self.name!r} has no option(s) {', '.join(unknown)}")
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


METHODS: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method to the registry (overwrites an entry of the same name)."""
    METHODS[spec.name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}") from None


register(
    MethodSpec(
        "darts",
        "pyronas.models.darts:DARTSModel",
        "pyronas.guides.darts:DARTSGuide",
        protocol={"epochs": 50, "warmup_epochs": 0, "weight_decay": 5e-4},
        description="DARTS: flat prior on op logits, Delta guide (MAP), the point-estimate baseline",
    )
)
register(
    MethodSpec(
        "drnas",
        "pyronas.models.drnas:DrNASModel",
        "pyronas.guides.drnas:DrNASGuide",
        # the plain NB201 search has no warm-up (official train_search.py); the progressive one has 10 epochs per stage
        protocol={
            "epochs": 100,
            "warmup_epochs": 0,
            "weight_decay": 3e-4,
            # progressive learning (--progressive): partial channels 4 with all ops, then top-3 ops per edge at 2
            "stages": (
                {"epochs": 50, "warmup_epochs": 10, "partial_channels": 4},
                {"epochs": 50, "warmup_epochs": 10, "partial_channels": 2, "keep_ops": 3},
            ),
        },
        description="DrNAS: Dirichlet mixing weights per edge, pathwise gradients",
    )
)
register(
    MethodSpec(
        "balenas",
        "pyronas.models.balenas:BaLeNASModel",
        "pyronas.guides.balenas:BaLeNASGuide",
        protocol={"epochs": 50, "warmup_epochs": 0, "weight_decay": 3e-4, "arch_optim": "ngvi"},
        description="BaLeNAS: Gaussian op logits, mean-field Normal guide fitted by NGVI (Bayesian learning rule)",
    )
)
register(
    MethodSpec(
        "bayesnas",
        "pyronas.models.bayesnas:BayesNASModel",
        "pyronas.guides.bayesnas:BayesNASGuide",
        protocol={
            "epochs": 1,
            "warmup_epochs": 0,
            "weight_decay": 3e-4,
            "arch_optim": "adam",
            "arch_lr": 0.05,
            "arch_weight_decay": 0.0,
        },
        description="BayesNAS: Gaussian op and edge gates under hierarchical ARD priors (one epoch), compression",
    )
)
register(
    MethodSpec(
        "pgnas",
        "pyronas.models.pgnas:PGNASModel",
        "pyronas.guides.pgnas:PGNASGuide",
        # weight decay 0: the KL's slab prior is the weight decay (l^2 / N = 3e-4 on kept ops and ungated weights)
        protocol={"epochs": 50, "warmup_epochs": 0, "weight_decay": 0.0},
        description="PGNAS: relaxed-Bernoulli keep-gates per op (variational dropout); paper: --select valid "
        "--samples 1500",
    )
)
