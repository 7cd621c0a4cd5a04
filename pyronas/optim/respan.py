"""The weights' cosine schedule of an extended search: re-spanned over the new total number of epochs.

A search's weights follow a cosine from ``weight_lr`` to ``weight_lr_min`` over its epochs (torch's
``CosineAnnealingLR``, stepped once per epoch). When a run is extended to more epochs, the epochs still to run
follow the cosine of the new total instead: epoch ``e`` runs at ``eta_min + (base - eta_min) (1 + cos(pi e / T)) / 2``
with ``T`` the new total, the rate an uninterrupted run of ``T`` epochs has at ``e``. :class:`RespannedCosine`
computes that rate in closed form from the epoch count alone, so an extended run that is interrupted and resumed
takes the same rates as one extended in one go.
"""

from __future__ import annotations

import math

import torch

from pyronas.optim.grouped import GroupedOptim


def cosine_rate(base: float, step: int, total: int, eta_min: float = 0.0) -> float:
    """The rate of ``step`` (0-based) on a cosine from ``base`` at step 0 to ``eta_min`` at ``total``."""
    return eta_min + 0.5 * (base - eta_min) * (1.0 + math.cos(math.pi * step / total))


class RespannedCosine(torch.optim.lr_scheduler.LRScheduler):
    """Cosine from each group's initial rate to ``eta_min`` over ``T_max`` steps, in closed form of the step count.

    Loading a state (the checkpoint of the run being extended, whose scheduler may be a ``CosineAnnealingLR`` over
    fewer steps) keeps this schedule's span and sets the groups' rates to the closed form at the loaded step.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max, self.eta_min = max(1, int(T_max)), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def rate(self, base: float, step: int) -> float:
        """The rate of ``step`` on the cosine from ``base`` to ``eta_min`` over ``T_max`` steps."""
        return cosine_rate(base, step, self.T_max, self.eta_min)

    def get_lr(self) -> list[float]:
        return [self.rate(base, self.last_epoch) for base in self.base_lrs]

    def load_state_dict(self, state_dict: dict) -> None:
        span = (self.T_max, self.eta_min)
        super().load_state_dict(state_dict)
        self.T_max, self.eta_min = span
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.rate(base, self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def respan(weight_optim: object, epochs: int, eta_min: float) -> None:
    """Give a search's weight optimizer (not yet stepped) the :class:`RespannedCosine` over ``epochs``.

    ``ValueError`` for an optimizer without the search's cosine schedule (a Pyro optimizer given from Python).
    """
    cosines = (torch.optim.lr_scheduler.CosineAnnealingLR, RespannedCosine)
    if not isinstance(weight_optim, GroupedOptim) or weight_optim.scheduler_constructor not in cosines:
        raise ValueError("only a search whose weights follow pyronas' cosine schedule can be extended (this one's "
                         "weight optimizer was given as a Python object)")  # fmt: skip
    weight_optim.scheduler_constructor = RespannedCosine
    weight_optim.scheduler_args = {"T_max": epochs, "eta_min": eta_min}
