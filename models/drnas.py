"""DrNAS as a Pyro model: per-edge Dirichlet mixing weights.

``w[cell][e] ~ Dirichlet(prior_concentration)``; the supernet mixes ops with a fresh pathwise
sample of ``w`` at every step (the guide's ``rsample``). With ``kl_weight = 0`` (the
published default, which regularises the guide by weight decay instead) the ELBO reduces to
the expected cross-entropy; a positive ``kl_weight`` adds ``kl_weight * KL(q || p)`` per edge
(estimated at the drawn ``w`` by the default ``trace`` ELBO; the official ``--reg_type kl``, an
analytic KL without weight decay, is ``--elbo meanfield --arch-weight-decay 0``).

Progressive learning (``pyronas search --progressive``, the registry's ``protocol["stages"]``):
a memory-saving two-stage schedule run by the engine's generic stages
(:class:`~pyronas.infer.stages.Stage`).

1. 50 epochs with partial channels ``K = 4`` (1/4 of each edge's channels go through its mixed
   op) and all ops; architecture steps start after a 10-epoch warm-up.
2. Each edge is pruned to its 3 most probable ops (by the guide's Dirichlet means); prior and
   guide become Dirichlets on the face of the kept ops (pruned ops get weight exactly 0, as the
   reference renormalises a full sample). The supernet is widened to ``K = 2`` by replicating
   the trained channels; SGD momentum goes through the same map and the cosine learning rate
   continues over all 100 epochs. Then 50 epochs, again with a 10-epoch warm-up.

With ``--epochs E`` both stages and their warm-ups scale by ``E / 100``.

The search step follows the official ``train_search.py`` (a fresh random validation batch every step; on NB201 a
clip that counts the Dirichlet parameters' gradients of the training loss, on the DARTS space one over the weights);
the settings and every remaining deviation are in the README section "How each method follows its reference code".

References:
    [1] X. Chen, R. Wang, M. Cheng, X. Tang, C.-J. Hsieh. DrNAS: Dirichlet Neural
        Architecture Search. ICLR 2021.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyro
import torch

from pyronas.distributions import dirichlet
from pyronas.infer.primitives import classify, kl_weight
from pyronas.infer.pruning import OpMask
from pyronas.spaces import SearchSpace


class DrNASModel(torch.nn.Module):
    """Dirichlet prior per edge, ``Dir(prior_concentration * 1)``; the samples are the mixing weights."""

    def __init__(
        self, supernet: torch.nn.Module, space: SearchSpace, prior_concentration: float = 1.0, kl_weight: float = 0.0
    ):
        super().__init__()
        self.supernet = supernet
        self.space = space
        self.prior_concentration = prior_concentration
        self.kl_weight = kl_weight
        self.op_mask = OpMask(space.arch_shape)

    def arch(self) -> dict[str, torch.Tensor]:
        """Sample the architecture sites; return mixing weights ``{cell: [E, K]}``."""
        device = next(self.supernet.parameters()).device
        weights = {}
        for cell, shape in self.space.arch_shape.items():
            prior = dirichlet(torch.full(shape, self.prior_concentration, device=device), self.op_mask[cell])
            with kl_weight(self.kl_weight):
                weights[cell] = pyro.sample(f"arch.{cell}", prior.to_event(1))
        return weights

    def prune(self, keep: Mapping[str, torch.Tensor]) -> None:
        """Restrict each edge's prior to the ops true in ``keep`` ``{cell: bool [E, K]}``."""
        self.op_mask.prune(keep)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return classify(self.supernet, images, labels, self.arch())


# -- the method's plugin spec (found by pyronas.registry; see pyronas.infer.contract for the contract) --
from pyronas.guides.drnas import DrNASGuide  # noqa: E402

from pyronas.registry import MethodSpec  # noqa: E402

# the plain NB201 search has no warm-up (official train_search.py); the progressive one has 10 epochs per stage
SPEC = MethodSpec(
    "drnas",
    DrNASModel,
    DrNASGuide,
    protocol={
        "epochs": 100,
        "warmup_epochs": 0,
        "weight_decay": 3e-4,
        # official train_search.py (201-space and DARTS-space alike): a fresh random validation batch every step
        # (201-space line 260), and the clip spans model.parameters(), the Dirichlet parameters' gradients of the
        # training loss included (lines 266-273); measured extra cost of the latter: at most ~3 % of a weight step
        "valid_batches": "random",
        "grad_clip_span": "weights+arch",
        # DARTS-space/train_search.py keeps its Dirichlet parameters out of model.parameters() (plain tensors,
        # model_search.py:215-220), so its clip (line 191) spans the weights alone
        "spaces": {"darts": {"grad_clip_span": "weights"}},
        # progressive learning (--progressive): partial channels 4 with all ops, then top-3 ops per edge at 2
        "stages": (
            {"epochs": 50, "warmup_epochs": 10, "partial_channels": 4},
            {"epochs": 50, "warmup_epochs": 10, "partial_channels": 2, "keep_ops": 3},
        ),
    },
    option_bounds={"prior_concentration": "positive", "kl_weight": "non-negative", "init_scale": "non-negative"},
    description="DrNAS: Dirichlet mixing weights per edge, pathwise gradients",
)
