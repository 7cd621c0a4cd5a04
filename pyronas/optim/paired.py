"""The Pyro face of :class:`~pyronas.optim.ngvi.NGVIOptimizer`: pairs locations with scales by name.

SVI hands an optimizer a flat list of unconstrained tensors. :class:`NGVI` names them through
Pyro's param store, pairs every Gaussian location with its scale by a naming rule
(:func:`pair_by_name` by default), reads each scale's constraint from the store and drives one
:class:`~pyronas.optim.ngvi.NGVIOptimizer` with one parameter group per pair. Optimizer state is
saved and loaded by parameter name, as :class:`~pyronas.optim.GroupedOptim` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import pyro
import torch
from torch.distributions import constraints

from pyronas.optim.grouped import GroupedOptim
from pyronas.optim.ngvi import NGVIOptimizer, check_options

_RENAME = {"locs": "scales", "loc": "scale"}


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

    Takes Pyro's ``optim_args`` dict like every Pyro optimizer (``NGVI({"lr": 0.01, "num_data": 1000})``),
    or the same options as keywords (``NGVI(lr=0.01)``).

    Args:
        optim_args: dict of the options below (``lr`` may also be given positionally as a float).
        lr, betas, prior_precision, num_data, curvature, eps: see :class:`~pyronas.optim.ngvi.NGVIOptimizer`.
        pairing: maps a location's param name to its scale's name, ``None`` for a non-location
            (default :func:`pair_by_name`).

    References:
        [1] M. E. Khan et al. Fast and Scalable Bayesian Deep Learning by Weight-Perturbation in Adam. ICML 2018.
        [2] M. E. Khan, H. Rue. The Bayesian Learning Rule. JMLR 24, 2023.
    """

    def __init__(
        self,
        optim_args: Mapping | float | None = None,
        *,
        lr: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.999),
        prior_precision: float = 0.0,
        num_data: float = 1.0,
        curvature: str = "reparam",
        eps: float = 1e-8,
        pairing: Callable[[str], str | None] = pair_by_name,
    ):
        args = dict(
            lr=lr, betas=betas, prior_precision=prior_precision, num_data=num_data, curvature=curvature, eps=eps
        )
        if isinstance(optim_args, Mapping):
            unknown = sorted(set(optim_args) - set(args))
            if unknown:
                raise ValueError(f"NGVI has no option(s) {', '.join(unknown)}; it takes: {', '.join(args)}")
            args.update(optim_args)
        elif optim_args is not None:
            args["lr"] = optim_args  # NGVI(0.01), as before optim_args
        args["betas"] = tuple(args["betas"])
        check_options(**args)  # fail here, not at the first SVI step
        super().__init__(NGVIOptimizer, args)
        self.pairing = pairing

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
                    "optimized; give each location its scale or pass NGVI(pairing=...)"
                )
        scales = set(pairs.values())
        for name in names:
            if name not in pairs and name not in scales:
                raise ValueError(
                    f"NGVI: parameter {name!r} is neither a Gaussian location nor the scale of one under the "
                    "pairing rule; optimize it with another optimizer or pass NGVI(pairing=...)"
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
            groups.append({"params": [loc_t, scale_t], "scale_constraint": constraint})
            self._names.extend([loc, scale])
            for t in (loc_t, scale_t):
                self._seen[t] = len(self._seen)
        if self.optimizer is None:
            self.optimizer = self.pt_optim_constructor(groups, **self.pt_optim_args)
        else:
            for group in groups:
                self.optimizer.add_param_group(group)
        self._load_pending()
