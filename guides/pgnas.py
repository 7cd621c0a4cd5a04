"""PGNAS guide: a learned keep probability per (cell type, edge, op), gates sampled as relaxed Bernoulli.

``q(a[c][e, k]) = Bernoulli(p[c][e, k])``, relaxed as ``RelaxedBernoulli(temperature, p)`` (pathwise).
The parameter ``arch.keep_probs.<cell>`` is constrained to ``(0, 1)`` (optimised as a logit) and
starts at ``1 - init_drop``. The guide's half of the KL is closed-form: ``E_q[log q(a)] = -H(p)``,
a factor ``-H(p) / N`` per cell type (``models/pgnas.py`` holds the prior's half).

References:
    [1] Y. Zhou, X. Sun, C. Luo, Z.-J. Zha, W. Zeng. Posterior-Guided Neural Architecture Search. AAAI 2020.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroModule, PyroParam

from pyronas.infer.primitives import kl_weight
from pyronas.spaces import SearchSpace


def bernoulli_entropy(p: torch.Tensor) -> torch.Tensor:
    """Elementwise entropy of ``Bernoulli(p)`` in nats, ``-p log p - (1 - p) log(1 - p)``."""
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))


class PGNASGuide(PyroModule):
    """``q(a[cell]) = RelaxedBernoulli(temperature, keep_probs[cell])`` over ``[E, K]``.

    Args:
        init_drop: initial drop probability of every gate (0.1 in [1]).
        temperature: Concrete temperature (the model's option of the same name).
        num_data: ``N``, training images (the model's option); the entropy factor is divided by it.
    """

    def __init__(
        self, space: SearchSpace, init_drop: float = 0.1, temperature: float = 0.2, num_data: float = 25_000
    ):
        super().__init__(name="arch")
        if not temperature > 0 or not num_data > 0:
            raise ValueError(f"temperature and num_data must be > 0, got {temperature} and {num_data}")
        if not 0 < init_drop < 1:
            raise ValueError(f"init_drop must lie in (0, 1), got {init_drop}")
        self.space = space
        self.temperature = temperature
        self.num_data = num_data
        self.keep_probs = PyroModule()
        for cell, shape in space.arch_shape.items():
            setattr(self.keep_probs, cell, PyroParam(torch.full(shape, 1.0 - init_drop), constraints.unit_interval))

    def keep_probabilities(self) -> dict[str, torch.Tensor]:
        """Keep probabilities ``{cell: [E, K]}`` in ``(0, 1)`` (differentiable)."""
        return {cell: getattr(self.keep_probs, cell) for cell in self.space.cell_types}

    def forward(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> None:
        for cell, p in self.keep_probabilities().items():
            q = dist.RelaxedBernoulli(torch.tensor(self.temperature, device=p.device), probs=p)
            with kl_weight(0.0):  # replaced by the closed-form entropy below
                pyro.sample(f"arch.{cell}.gates", q.to_event(2))
            pyro.factor(f"arch.{cell}.gates_log_q", -bernoulli_entropy(p).sum() / self.num_data, has_rsample=True)

    @torch.no_grad()
    def op_probabilities(self) -> dict[str, torch.Tensor]:
        """Per-edge op probabilities ``{cell: [E, K]}``: keep probabilities normalised over each edge's ops."""
        return {cell: p / p.sum(-1, keepdim=True) for cell, p in self.keep_probabilities().items()}
