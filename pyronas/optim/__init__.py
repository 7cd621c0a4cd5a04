"""Optimizers usable wherever Pyro expects a :class:`~pyro.optim.PyroOptim`."""

from pyronas.optim.grouped import GroupedOptim
from pyronas.optim.protocol import arch_adam, weight_sgd

__all__ = ["GroupedOptim", "arch_adam", "weight_sgd"]
