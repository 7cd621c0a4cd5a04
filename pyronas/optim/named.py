"""Pyro optimizers by name (``--optim ClippedAdam``, ``--weight-optim Adam``), as one grouped torch optimizer.

Every optimizer of ``pyro.optim`` (its learning-rate schedulers left out) wraps a torch optimizer class;
:func:`named_optim` drives that class as a :class:`~pyronas.optim.GroupedOptim` (one optimizer over all
parameters, state saved by name, optional global clip and schedule). :func:`check_args` tries the
arguments on a throw-away tensor, so that a wrong one is refused in one line before a search starts.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping

import pyro.optim
import torch
from pyro.optim import PyroOptim
from pyro.optim.lr_scheduler import PyroLRScheduler

from pyronas.optim.grouped import GroupedOptim


@functools.cache
def pyro_optimizers() -> tuple[str, ...]:
    """The names of ``pyro.optim``'s optimizers (``Adam``, ``ClippedAdam``, ``SGD``, ...), schedulers left out."""
    names = []
    for name in sorted(pyro.optim.__all__):
        wrapper = getattr(pyro.optim, name, None)
        if not callable(wrapper) or isinstance(wrapper, type):  # PyroOptim, HorovodOptimizer: no named optimizer
            continue
        try:
            made = wrapper({})
        except Exception:  # noqa: BLE001 (a scheduler needs an optimizer in its arguments)
            continue
        if isinstance(made, PyroOptim) and not isinstance(made, PyroLRScheduler):
            names.append(name)
    return tuple(names)


def torch_optimizer(name: str) -> Callable[..., torch.optim.Optimizer]:
    """The torch optimizer class behind ``pyro.optim.<name>``; one-line ``ValueError`` for another name."""
    if name not in pyro_optimizers():
        raise ValueError(f"unknown optimizer {name!r}; choose one of pyro.optim's: {', '.join(pyro_optimizers())}")
    return getattr(pyro.optim, name)({}).pt_optim_constructor


def optimizer_defaults(name: str) -> dict:
    """The keyword defaults of ``pyro.optim.<name>``'s torch optimizer (``{"lr": 0.001, ...}``)."""
    found = inspect.signature(torch_optimizer(name)).parameters.values()
    return {p.name: p.default for p in found if p.default is not inspect.Parameter.empty and p.name != "params"}


def _tuples(args: Mapping) -> dict:
    """JSON lists (``"betas": [0.9, 0.99]``) as the tuples torch optimizers document."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}


def check_args(name: str, args: Mapping, constructor: Callable | None = None, what: str = "--optim-args") -> dict:
    """``args`` of the optimizer ``name`` tried on a throw-away tensor; one-line ``ValueError`` if refused."""
    constructor = constructor or torch_optimizer(name)
    args = _tuples(args)
    try:
        constructor([torch.zeros(1, requires_grad=True)], **args)
    except TypeError as e:
        allowed = [p for p in inspect.signature(constructor).parameters if p not in ("params", "self")]
        raise ValueError(f"{what} do not fit {name} ({e}); its arguments: {', '.join(allowed)}") from None
    except ValueError as e:
        raise ValueError(f"{what} are refused by {name}: {e}") from None
    return args


def named_optim(
    name: str,
    args: Mapping,
    *,
    clip_norm: float | None = None,
    scheduler_constructor: Callable | None = None,
    scheduler_args: dict | None = None,
) -> GroupedOptim:
    """``pyro.optim.<name>`` with ``args`` as one :class:`~pyronas.optim.GroupedOptim` (clip and schedule optional)."""
    constructor = torch_optimizer(name)
    return GroupedOptim(
        constructor,
        check_args(name, args, constructor),
        clip_norm=clip_norm,
        scheduler_constructor=scheduler_constructor,
        scheduler_args=scheduler_args,
    )


def with_rates(name: str, lr: float | None, weight_decay: float | None, args: Mapping, base: Mapping = ()) -> dict:
    """``base``, then ``lr`` and ``weight_decay`` (this one only where the optimizer takes it), then ``args``."""
    takes = optimizer_defaults(name) if name in pyro_optimizers() else {"weight_decay": 0}
    rates = {"lr": lr} if lr is not None else {}
    if weight_decay is not None and "weight_decay" in takes:
        rates["weight_decay"] = weight_decay
    return {**dict(base), **rates, **args}


SGD_DEFAULTS = {"momentum": 0.9}  # the weights' default SGD (NB201 protocol), under what --weight-optim-args gives
