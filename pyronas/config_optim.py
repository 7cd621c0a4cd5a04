"""The two optimizers' settings resolved: name, learning rate, weight decay and remaining arguments, checked.

A rate or weight decay may be given as its own setting (``arch_lr``) or inside the optimizer's arguments
(``arch_optim_args={"lr": ...}``); it is kept as the setting, and the two must not disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyronas.names import ARCH_LR

GENERIC_ARCH_WEIGHT_DECAY = 1e-3


def pyro_optimizers() -> tuple[str, ...]:
    """The ``pyro.optim`` optimizers by name (imports pyro)."""
    from pyronas.optim.named import pyro_optimizers

    return pyro_optimizers()


def _once(name: str, flag: str, given: Any, in_args: Any, args_flag: str, default: Any = None) -> Any:
    """A rate given as its own setting or inside an optimizer's arguments; one-line error when both disagree."""
    if in_args is None:
        return given
    if given is not None and given != default and given != in_args:
        raise ValueError(f"{name} ({flag}) = {given} and {in_args} in {args_flag} disagree; give the rate once")
    return in_args


def resolve_arch(c: Any, method: Mapping, dataset: Mapping) -> dict:
    """The architecture optimizer's settings. ``method``: the method's protocol for the space; ``dataset``: the data
    set's defaults per optimizer name. The method's rate applies to its own optimizer; a method that sets none
    takes the data set's default for the optimizer, then the optimizer's generic one (:data:`ARCH_LR`)."""
    own_optim = method.get("arch_optim", "adam")
    arch_optim = own_optim if c.arch_optim is None else c.arch_optim
    args = dict(c.arch_optim_args or {})
    if not isinstance(arch_optim, str):
        if args:
            raise ValueError("arch_optim_args need an optimizer given by name; pass them to the optimizer object")
        return dict(arch_optim=arch_optim, arch_lr=c.arch_lr, arch_weight_decay=c.arch_weight_decay)
    if arch_optim not in ARCH_LR and arch_optim not in pyro_optimizers():
        known = (*ARCH_LR, *pyro_optimizers())
        raise ValueError(f"unknown architecture optimizer {arch_optim!r}; choose one of: {', '.join(known)}")
    lr = _once("arch_lr", "--arch-lr", c.arch_lr, args.pop("lr", None), "--optim-args")
    decay = c.arch_weight_decay
    if arch_optim != "ngvi":  # NGVI takes no weight decay (its prior is the model's): its check refuses one
        decay = _once("arch_weight_decay", "--arch-weight-decay", decay, args.pop("weight_decay", None), "--optim-args")
    if arch_optim in ARCH_LR:
        own_rate = arch_optim == own_optim and "arch_lr" in method  # a method's tuned rate beats the data set's
        layer = dataset.get(arch_optim, {}) if not own_rate else {}
        if lr is None:
            lr = layer.get("arch_lr", method["arch_lr"] if own_rate else ARCH_LR[arch_optim])
        if decay is None:
            decay = layer.get("arch_weight_decay", method.get("arch_weight_decay", GENERIC_ARCH_WEIGHT_DECAY))
    else:  # a pyro.optim optimizer at its own defaults
        from pyronas.optim.named import optimizer_defaults

        defaults = optimizer_defaults(arch_optim)
        lr = lr if lr is not None else defaults.get("lr")
        decay = decay if decay is not None else defaults.get("weight_decay")
    _check_arch(arch_optim, lr, decay, args)
    return dict(arch_optim=arch_optim, arch_lr=lr, arch_weight_decay=decay, arch_optim_args=args)


def _check_arch(name: str, lr: Any, decay: Any, args: dict) -> None:
    """The architecture optimizer takes these arguments (one-line error otherwise)."""
    from pyronas.optim.named import check_args, with_rates

    if name == "ngvi":
        from pyronas.optim import NGVI

        NGVI({"lr": lr, **args})  # refuses an unknown or invalid option in one line
    elif name == "adam":
        import torch

        check_args("adam", {"lr": lr, "betas": (0.5, 0.999), "weight_decay": decay, **args}, torch.optim.Adam)
    else:
        check_args(name, with_rates(name, lr, decay, args))


def resolve_weight_optim(c: Any) -> dict:
    """The weights' optimizer settings: the rate and weight decay moved out of its arguments, the rest checked
    (``weight_decay`` stays ``None`` when not given: the method's protocol then sets it)."""
    name, args = c.weight_optim, dict(c.weight_optim_args or {})
    if name is not None and not isinstance(name, str):
        if args:
            raise ValueError("weight_optim_args need an optimizer given by name; pass them to the optimizer object")
        return dict(weight_optim=name, weight_decay=c.weight_decay)
    if name is not None and name not in pyro_optimizers():
        raise ValueError(f"unknown weight optimizer {name!r}; choose one of: {', '.join(pyro_optimizers())}")
    default_lr = type(c).__dataclass_fields__["weight_lr"].default
    lr = _once("weight_lr", "--weight-lr", c.weight_lr, args.pop("lr", None), "--weight-optim-args", default_lr)
    decay = _once("weight_decay", "--weight-decay", c.weight_decay, args.pop("weight_decay", None),
                  "--weight-optim-args")  # fmt: skip
    if name is not None or args:
        from pyronas.optim.named import SGD_DEFAULTS, check_args, with_rates

        base = SGD_DEFAULTS if name is None else {}
        check_args(name or "SGD", with_rates(name or "SGD", lr, decay or 0.0, args, base), what="--weight-optim-args")
    return dict(weight_optim=name, weight_lr=lr, weight_decay=decay, weight_optim_args=args)
