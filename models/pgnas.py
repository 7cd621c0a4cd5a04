"""PGNAS as a Pyro model: a keep-gate per candidate op, relaxed during training (variational dropout).

Hybrid representation ``phi = w * a``: each candidate op ``k`` on edge ``e`` of cell type ``c`` has a
keep-gate ``a[c][e, k]`` shared by all cells of that type; the supernet mixes its ops with the
gates themselves (unnormalised; ``none`` is never computed). Prior: ``a ~ Bernoulli(1/2)``, relaxed
in training as ``RelaxedBernoulli(temperature, 1/2)`` (Concrete, temperature 0.2); spike-and-slab on
the weights, ``N(0, I / l^2)`` for a kept op. The KL of [1] (``p`` the keep probability of the guide),

    KL / N = sum_g (l^2 p_g / 2N) ||w_g||^2 - (1/N) sum_g H(p_g)   (+ const),

is realised in two closed-form parts instead of Monte Carlo log-densities of the relaxed gates
(both gate sites are masked, so only their pathwise samples enter the ELBO):

- model: ``pyro.factor("arch.weight_prior", -(l^2 / 2N) (sum_g a_g ||w_g||^2 + ||w_rest||^2))``,
  the slab's log-density at the supernet weights given the *sampled* gate ``a_g`` (its expectation
  ``E_q[a_g] -> p_g`` as the temperature goes to 0). It couples each gate with the weights of its op
  (the space's ``op_parameters``); ungated weights (stem, reduction blocks, classifier) count with
  gate 1. Gradients reach the weights in weight steps and the keep probabilities (through the
  reparameterised gate) in architecture steps.
- guide: ``E_q[log q(a)] = -H(p)`` per gate, a factor ``-H(p) / N`` (see ``guides/pgnas.py``).

The gate of ``none`` only feels the entropy term, so its keep probability drifts to 1/2: an edge
derives ``none`` once all its real ops have fallen below it. Per-channel-group gates of [1] need a
space with channel groups; neither NB201 nor DARTS has them, so gates are per op only.

Defaults: ``num_data = 25,000`` (the weight half of CIFAR-10 in the NB201 protocol) and
``length_scale = sqrt(3e-4 * 25,000)``, so that a kept op's decay ``l^2 / N`` equals the protocol's
3e-4; the registry's protocol therefore sets the optimizer's weight decay to 0 (the prior is the
weight decay). The paper's selection is posterior-guided: ``pyronas search --method pgnas --select
valid --samples 1500`` scores 1,500 cells drawn from the guide with the shared weights.

References:
    [1] Y. Zhou, X. Sun, C. Luo, Z.-J. Zha, W. Zeng. Posterior-Guided Neural Architecture Search. AAAI 2020.
    [2] Y. Gal, J. Hron, A. Kendall. Concrete Dropout. NeurIPS 2017.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pyro
import pyro.distributions as dist
import torch

from pyronas.infer.primitives import classify, kl_weight
from pyronas.spaces import SearchSpace

NUM_DATA = 25_000  # training images of the weight half, NB201 protocol on CIFAR-10
LENGTH_SCALE = math.sqrt(3e-4 * NUM_DATA)  # l^2 / N = 3e-4: a kept op decays like the protocol's weight decay
TEMPERATURE = 0.2


def square_norms(table: list[list[list[torch.nn.Parameter]]], device: torch.device) -> torch.Tensor:
    """``[E, K]`` sums of squared entries of each op's parameters (0 for parameter-free ops)."""
    zero = torch.zeros((), device=device)
    rows = [torch.stack([sum((p.square().sum() for p in params), zero) for params in row]) for row in table]
    return torch.stack(rows)


class PGNASModel(torch.nn.Module):
    """Keep-gates ``a[cell] [E, K] ~ RelaxedBernoulli(temperature, 1/2)`` as mixing weights, slab prior on weights.

    Args:
        temperature: Concrete temperature of the relaxed gates (0.2 in [1]).
        length_scale: ``l``, the slab's prior precision is ``l^2``.
        num_data: ``N``, training images; the KL is divided by it (the likelihood is a mean).
    """

    def __init__(
        self,
        supernet: torch.nn.Module,
        space: SearchSpace,
        temperature: float = TEMPERATURE,
        length_scale: float = LENGTH_SCALE,
        num_data: float = NUM_DATA,
    ):
        super().__init__()
        if not temperature > 0 or not num_data > 0:
            raise ValueError(f"temperature and num_data must be > 0, got {temperature} and {num_data}")
        if not length_scale >= 0:
            raise ValueError(f"length_scale must be >= 0, got {length_scale}")
        try:
            space.op_parameters(supernet)
        except NotImplementedError as e:
            raise ValueError(f"PGNAS needs the space's op_parameters(): {e}") from None
        self.supernet = supernet
        self.space = space
        self.temperature = temperature
        self.length_scale = length_scale
        self.num_data = num_data

    def arch(self) -> dict[str, torch.Tensor]:
        """Sample the gates; return them as mixing weights ``{cell: [E, K]}`` in ``[0, 1]``."""
        device = next(self.supernet.parameters()).device
        gates = {}
        for cell, shape in self.space.arch_shape.items():
            prior = dist.RelaxedBernoulli(
                torch.tensor(self.temperature, device=device), probs=torch.full(shape, 0.5, device=device)
            )
            with kl_weight(0.0):  # the KL is added in closed form (module docstring)
                gates[cell] = pyro.sample(f"arch.{cell}.gates", prior.to_event(2))
        return gates

    def weight_prior(self, gates: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``-(l^2 / 2N) (sum_{c,e,k} gates[c][e,k] ||w[c][e,k]||^2 + ||w_ungated||^2)``, a scalar."""
        device = next(self.supernet.parameters()).device
        gated, total = set(), torch.zeros((), device=device)
        for cell, table in self.space.op_parameters(self.supernet).items():
            gated.update(id(p) for row in table for params in row for p in params)
            total = total + (gates[cell] * square_norms(table, device)).sum()
        for p in self.supernet.parameters():
            if id(p) not in gated:
                total = total + p.square().sum()
        return -(self.length_scale**2 / (2 * self.num_data)) * total

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        gates = self.arch()
        logits = classify(self.supernet, images, labels, gates)
        pyro.factor("arch.weight_prior", self.weight_prior(gates))
        return logits


# -- the method's plugin spec (found by pyronas.registry; see pyronas.infer.contract for the contract) --
from pyronas.guides.pgnas import PGNASGuide  # noqa: E402

from pyronas.registry import MethodSpec  # noqa: E402

# weight decay 0: the KL's slab prior is the weight decay (l^2 / N = 3e-4 on kept ops and ungated weights)
SPEC = MethodSpec(
    "pgnas",
    PGNASModel,
    PGNASGuide,
    protocol={"epochs": 50, "warmup_epochs": 0, "weight_decay": 0.0},
    option_bounds={
        "temperature": "positive",
        "length_scale": "positive",
        "num_data": "positive",
        "init_drop": "fraction",
    },
    description="PGNAS: relaxed-Bernoulli keep-gates per op (variational dropout); paper: --select valid "
    "--samples 1500",
)
