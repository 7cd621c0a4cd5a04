"""Optimizers usable wherever Pyro expects a :class:`~pyro.optim.PyroOptim`."""

from pyronas.optim.grouped import GroupedOptim
from pyronas.optim.ngvi import NGVIOptimizer
from pyronas.optim.paired import NGVI, pair_by_name
from pyronas.optim.protocol import arch_adam, weight_sgd

__all__ = ["NGVI", "GroupedOptim", "NGVIOptimizer", "arch_adam", "pair_by_name", "weight_sgd"]
