"""The Pyro face of :class:`~pyronas.optim.ngvi.NGVIOptimizer`: pairs locations with scales by name.

SVI hands an optimizer a flat list of unconstrained tensors. :class:`NGVI` names them through
Pyro's param store, pairs every Gaussian location with its scale by a naming rule
(:func:`pair_by_name` by default), reads each scale's constraint from the store and drives one
:class:`~pyronas.optim.ngvi.NGVIOptimizer` with one parameter group per pair. Optimizer state is
saved and loaded by parameter name, as :class:`~pyronas.optim.GroupedOptim` does.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping

import pyro
import torch
from pyro import poutine
from pyro.params.param_store import module_from_param_with_module_name, normalize_param_name, user_param_name
from torch.distributions import constraints

from pyronas.optim.grouped import GroupedOptim
from pyronas.optim.ngvi import NGVIOptimizer, check_options

_RENAME = {"locs": "scales", "loc": "scale"}
INSTEAD = 'choose another architecture optimizer (pyronas search --optim adam; Python: arch_optim="adam")'


def pair_by_name(name: str) -> str | None:
    """The scale parameter's name for a location parameter's name, or ``None`` if ``name`` is no location.

    The first dotted component ``locs`` (``loc``) becomes ``scales`` (``scale``):
    ``AutoNormal.locs.x -> AutoNormal.scales.x``, ``AutoDiagonalNormal.loc -> AutoDiagonalNormal.scale``,
    ``arch.locs.cell -> arch.scales.cell`` (the BaLeNAS guide).
    """
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part in _RENAME:
            return ".".join(parts[:i] + [_RENAME[part]] + parts[i + 1 :])
    return None


class NGVI(GroupedOptim):
    """Natural-gradient VI for mean-field Gaussian guides, usable wherever Pyro expects a ``PyroOptim``.

    Every parameter SVI steps must be a location or the scale of one under ``pairing``; the
    update is :class:`~pyronas.optim.ngvi.NGVIOptimizer`'s (the scale is written from the
    precision estimate, not stepped along its gradient). Parameters must live in Pyro's global
    param store (the default; not ``module_local_params``).

    Takes Pyro's ``optim_args`` like every Pyro optimizer: a dict (``NGVI({"lr": 0.01, "num_data": 1000})``) or a
    callable of the location's parameter name returning such a dict, per Gaussian (``NGVI(lambda name: {...})``);
    or the same options as keywords (``NGVI(lr=0.01)``, the defaults under a callable's dicts).

    ``num_data`` left out (``None``) is derived from the model by :meth:`bind` (``1 / kl_weight``), else 1.

    Args:
        optim_args: dict or callable of the options below (``lr`` may also be given positionally as a float).
        lr, betas, prior_precision, num_data, curvature, eps: see :class:`~pyronas.optim.ngvi.NGVIOptimizer`.
        pairing: maps a location's param name to its scale's name, ``None`` for a non-location
            (default :func:`pair_by_name`).

    References:
        [1] M. E. Khan et al. Fast and Scalable Bayesian Deep Learning by Weight-Perturbation in Adam. ICML 2018.
        [2] M. E. Khan, H. Rue. The Bayesian Learning Rule. JMLR 24, 2023.
    """

    def __init__(
        self,
        optim_args: Mapping | Callable[[str], Mapping] | float | None = None,
        *,
        lr: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.999),
        prior_precision: float = 0.0,
        num_data: float | None = None,
        curvature: str = "reparam",
        eps: float = 1e-8,
        pairing: Callable[[str], str | None] = pair_by_name,
    ):
        args = dict(
            lr=lr, betas=betas, prior_precision=prior_precision, num_data=num_data, curvature=curvature, eps=eps
        )
        self.per_param = None
        if isinstance(optim_args, Mapping):
            args.update(self._known(optim_args))
        elif callable(optim_args):
            self.per_param = _per_param(optim_args)  # called with each location's name when its pair is added
        elif optim_args is not None:
            args["lr"] = optim_args  # NGVI(0.01), as before optim_args
        args["betas"] = tuple(args["betas"])
        self.num_data_given = args["num_data"]
        args["num_data"] = 1.0 if args["num_data"] is None else args["num_data"]
        check_options(**args)  # fail here, not at the first SVI step
        super().__init__(NGVIOptimizer, args)
        self.pairing = pairing
        self.kl_weight: float | None = None

    @staticmethod
    def _known(options: Mapping) -> dict:
        names = ("lr", "betas", "prior_precision", "num_data", "curvature", "eps")
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise ValueError(f"NGVI has no option(s) {', '.join(unknown)}; it takes: {', '.join(names)}")
        return dict(options)

    def bind(self, model: object) -> NGVI:
        """Derive ``num_data = 1 / kl_weight`` from a model that weights its KL terms by a positive ``kl_weight``;
        a ``num_data`` given that contradicts it is refused in one line (``ValueError``)."""
        kl = getattr(model, "kl_weight", None)
        if kl is None or float(kl) <= 0:
            return self
        self.kl_weight = float(kl)
        derived = 1.0 / self.kl_weight
        self._check_num_data(self.num_data_given)
        self.pt_optim_args["num_data"] = derived
        return self

    def _check_num_data(self, given: float | None) -> None:
        if given is None or self.kl_weight is None:
            return
        derived = 1.0 / self.kl_weight
        if not math.isclose(float(given), derived, rel_tol=1e-6):
            raise ValueError(
                f"NGVI num_data = {given:g} contradicts the model's kl_weight = {self.kl_weight:g} (num_data must be "
                f"1 / kl_weight = {derived:g}); leave num_data out to derive it, or change kl_weight "
                f"(pyronas search --option kl_weight=...)"
            )

    def check_guide(self, guide: Callable) -> None:
        """Refuse, in one line, a guide whose parameters are not all Gaussian locations and their scales."""
        store = pyro.get_param_store()
        with poutine.block(), torch.no_grad():
            trace = poutine.trace(guide).get_trace()
        names = [n for n, site in trace.nodes.items() if site["type"] == "param"]
        self._pairs([store._params[n] for n in names if n in store._params])

    def __call__(self, params: Iterable[torch.Tensor], *args, **kwargs) -> None:
        params = list(params)
        if any(p not in self._seen for p in params):
            self._add(params)
        self.optimizer.step(*args, **kwargs)

    def _pairs(self, params: list[torch.Tensor]) -> list[tuple[str, str]]:
        """``[(loc_name, scale_name)]`` sorted by location name; one-line errors for unpaired parameters."""
        store = pyro.get_param_store()
        names = []
        for p in params:
            name = store.param_name(p)
            if name is None:
                raise ValueError("NGVI steps only parameters of Pyro's global param store (got an unnamed tensor)")
            names.append(name)
        pairs = {name: self.pairing(name) for name in names}
        pairs = {loc: scale for loc, scale in pairs.items() if scale is not None}
        present = set(names)
        for loc, scale in pairs.items():
            if scale not in present:
                raise ValueError(
                    f"NGVI: location {loc!r} has no scale parameter {scale!r} among the parameters being "
                    f"optimized; give each location its scale, pass NGVI(pairing=...) or {INSTEAD}"
                )
        scales = set(pairs.values())
        for name in names:
            if name not in pairs and name not in scales:
                raise ValueError(
                    f"NGVI fits mean-field Gaussian guides only: parameter {name!r} is neither a Gaussian location "
                    f"nor the scale of one; {INSTEAD}, or pass NGVI(pairing=...)"
                )
        return sorted(pairs.items())

    def _add(self, params: list[torch.Tensor]) -> None:
        store = pyro.get_param_store()
        groups = []
        for loc, scale in self._pairs(params):
            loc_t, scale_t = store._params[loc], store._params[scale]  # the unconstrained tensors SVI steps
            if loc_t in self._seen:
                continue
            # the store keeps each parameter's constraint only in this private dict
            constraint = store._constraints.get(scale, constraints.real)
            group = {"params": [loc_t, scale_t], "scale_constraint": constraint}
            if self.per_param is not None:
                own = self._known(self.per_param(loc))
                self._check_num_data(own.get("num_data"))
                if "num_data" not in own and self.kl_weight is not None:
                    own["num_data"] = 1.0 / self.kl_weight
                if "betas" in own:
                    own["betas"] = tuple(own["betas"])
                check_options(**{**self.pt_optim_args, **own})
                group.update(own)
            groups.append(group)
            self._names.extend([loc, scale])
            for t in (loc_t, scale_t):
                self._seen[t] = len(self._seen)
        if self.optimizer is None:
            self.optimizer = self.pt_optim_constructor(groups, **self.pt_optim_args)
        else:
            for group in groups:
                self.optimizer.add_param_group(group)
        self._load_pending()


def _per_param(optim_args: Callable) -> Callable[[str], dict]:
    """Pyro's callable ``optim_args`` as one function of a parameter's store name: called with the normalised name
    (``fn(name)``), or with its module and parameter names (``fn(module_name, param_name)``, Pyro's older form)."""
    if len(inspect.signature(optim_args).parameters) == 1:
        return lambda name: optim_args(normalize_param_name(name))
    return lambda name: optim_args(module_from_param_with_module_name(name), user_param_name(name))
