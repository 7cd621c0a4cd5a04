"""DARTS guide: a point mass (Delta) on the per-edge op logits, so SVI computes a MAP estimate.

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroParam

from pyronas.spaces import SearchSpace


class DARTSGuide(PyroModule):
    """``q(alpha) = Delta(alpha_hat)``, ``alpha_hat`` initialised as ``init_scale * randn``."""

    def __init__(self, space: SearchSpace, init_scale: float = 1e-3):
        super().__init__(name="arch")
        self.space = space
        for cell, shape in space.arch_shape.items():
            setattr(self, f"{cell}_logits", PyroParam(init_scale * torch.randn(shape)))

    def forward(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> None:
        for cell in self.space.cell_types:
            alpha = getattr(self, f"{cell}_logits")
            pyro.sample(f"arch.{cell}.logits", dist.Delta(alpha, event_dim=2))

    @torch.no_grad()
    def op_probabilities(self) -> dict[str, torch.Tensor]:
        """Per-edge op probabilities ``{cell: [E, K]}``: the softmax of the logits."""
        return {cell: getattr(self, f"{cell}_logits").softmax(-1) for cell in self.space.cell_types}
