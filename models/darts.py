"""DARTS as a Pyro model: a flat prior on per-edge op logits, softmax mixing weights.

Paired with the Delta guide in ``guides/darts.py`` the ELBO is the negative log-likelihood at
the guide's logits, i.e. MAP under a flat prior: exactly DARTS' first-order update.

The search step follows the code behind each published number: NB201's DARTS-V1 script on ``nb201``
(tested step for step against it), the original DARTS code on the ``darts`` space; the settings and every
remaining deviation are in the README section "How each method follows its reference code".

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints

from pyronas.infer.primitives import classify
from pyronas.spaces import SearchSpace


class DARTSModel(torch.nn.Module):
    """``alpha[cell] ~ ImproperUniform(R^{E x K})``; ``weights = softmax(alpha)`` per edge."""

    def __init__(self, supernet: torch.nn.Module, space: SearchSpace):
        super().__init__()
        self.supernet = supernet
        self.space = space

    def arch(self) -> dict[str, torch.Tensor]:
        """Sample the architecture sites; return mixing weights ``{cell: [E, K]}``."""
        weights = {}
        for cell, shape in self.space.arch_shape.items():
            flat = dist.ImproperUniform(constraints.real, (), shape)
            alpha = pyro.sample(f"arch.{cell}.logits", flat)
            weights[cell] = alpha.softmax(-1)
        return weights

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return classify(self.supernet, images, labels, self.arch())


# -- the method's plugin spec (found by pyronas.registry; see pyronas.infer.contract for the contract) --
from pyronas.guides.darts import DARTSGuide  # noqa: E402

from pyronas.registry import MethodSpec  # noqa: E402

SPEC = MethodSpec(
    "darts",
    DARTSModel,
    DARTSGuide,
    protocol={
        # the original DARTS code (quark0/darts cnn/train_search.py): weight decay 3e-4, a fresh random
        # validation batch every step (line 143), architecture step first, plain momentum, clip over the weights
        "epochs": 50,
        "warmup_epochs": 0,
        "weight_decay": 3e-4,
        "valid_batches": "random",
        # NB201's published number is its DARTS-V1 script's (AutoDL-Projects exps/NAS-Bench-201-algos/DARTS-V1.py)
        "spaces": {
            "nb201": {
                "weight_decay": 5e-4,
                "step_order": "weights-first",
                "nesterov": True,
                "grad_clip_span": "weights+arch-accumulated",
                "valid_batches": "random-replace",
            }
        },
    },
    option_bounds={"init_scale": "non-negative"},
    description="DARTS: flat prior on op logits, Delta guide (MAP), the point-estimate baseline",
)
