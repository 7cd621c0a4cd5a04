"""The optimizers of the NAS-Bench-201 bilevel protocol (see ``shared/METHODS.md``)."""

from __future__ import annotations

import torch

from pyronas.optim.grouped import GroupedOptim


def weight_sgd(
    epochs: int,
    lr: float = 0.025,
    lr_min: float = 0.001,
    momentum: float = 0.9,
    weight_decay: float = 3e-4,
    clip_norm: float | None = 5.0,
    nesterov: bool = False,
) -> GroupedOptim:
    """Supernet weights: SGD with (optionally Nesterov) momentum, cosine LR over ``epochs``, global clip."""
    return GroupedOptim(
        torch.optim.SGD,
        {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "nesterov": nesterov},
        clip_norm=clip_norm,
        scheduler_constructor=torch.optim.lr_scheduler.CosineAnnealingLR,
        scheduler_args={"T_max": max(1, epochs), "eta_min": lr_min},
    )


def arch_adam(
    lr: float = 3e-4, betas: tuple[float, float] = (0.5, 0.999), weight_decay: float = 1e-3, **adam_args
) -> GroupedOptim:
    """Architecture parameters: Adam with the DARTS/NB201 settings (``adam_args``: any other ``torch.optim.Adam``
    keyword, e.g. ``amsgrad``)."""
    args = {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay, **adam_args}
    return GroupedOptim(torch.optim.Adam, args)
