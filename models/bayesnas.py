"""BayesNAS as a Pyro model: Gaussian gates on ops and edges under hierarchical ARD priors.

Per cell type, an op gate ``s_op [E, K]`` multiplies each candidate op's output and an edge gate
``s_edge [E]`` the whole edge, so the supernet mixes ops with the unnormalised weights
``s_op * s_edge[:, None]``. Priors (automatic relevance determination, [1, 2]):

    s_edge ~ N(0, gamma_edge),    s_op ~ N(0, gamma_op_eff),    gamma_op_eff = (1/gamma_op + 1/gamma_edge[:, None])^-1

the hierarchy of [1]: an op's prior variance is capped by its edge's, so a cut edge (gamma_edge -> 0) cuts its ops.
The ``none`` op's gate exists for a uniform ``[E, K]`` shape but is never used (supernets skip ``none``).

Variances are fitted by type-II maximum likelihood (empirical Bayes), not sampled: ``gamma_op`` and ``gamma_edge``
are positive parameters of this model (``PyroParam``s of the ``ard`` PyroModule, which the engine registers as
param sites: :class:`pyronas.infer.params.ParameterSites`), ascended by the architecture SVI step together with the
guide, at every architecture step. The hierarchy holds after every update by construction: the op prior uses the
effective variance computed from both parameters, never a stored copy. :meth:`BayesNASModel.summary` writes the
fitted variances into ``result.json`` (``method_summary.ard_variances``). Why the gradient
rather than [1]'s reweighting rule (``gamma <- ||s_group|| / omega``, once per epoch): it is the sparse Bayesian
learning reading of [1], whose closed-form update is a type-II ML step, here taken by the same optimizer at every
step instead of once after the single epoch; it adds no sampled
variables (no extra gradient noise, no hyperprior constants to choose); and at its optimum, gamma = E_q[s^2], the KL
of a gate is ``0.5 log(1 + mu^2 / sigma^2)``, a log penalty that drives low signal-to-noise gates to zero [2]. The
prior hierarchy is in parameters, not sampled values, so ``TraceMeanField_ELBO``'s analytic KL applies.

The KL terms are weighted by ``kl_weight`` (model and guide alike): the data term is a mean cross-entropy, so
``kl_weight = 1e-2`` tempers the posterior as if the validation half held 100 images. [1]'s group-lasso weight
could not be confirmed; 1e-2 is chosen because it prunes most ops on digits without losing held-out accuracy
(``benchmarks/bayesnas_compression.py``), where 1e-3 prunes few. Protocol: [1] trains for ONE epoch, weights
alone on 10 % of the train set first, then weights and gates. The search loop warms up in whole epochs only, so
the registered protocol is one epoch without warm-up (``epochs=1, warmup_epochs=0``). Architecture optimizer:
Adam, lr 0.05 (type-II ML moves the log-variances by about lr per step, and one epoch is few steps), no weight
decay (the ARD prior is the regulariser; decay would pull the log-variances back to 0).

References:
    [1] H. Zhou, M. Yang, J. Wang, W. Pan. BayesNAS: A Bayesian Approach for Neural Architecture Search. ICML 2019.
    [2] D. Wipf, S. Nagarajan. A New View of Automatic Relevance Determination. NeurIPS 2007.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroModule, PyroParam

from pyronas.infer.primitives import classify, kl_weight
from pyronas.spaces import SearchSpace


def effective_variance(gamma_op: torch.Tensor, gamma_edge: torch.Tensor) -> torch.Tensor:
    """ARD hierarchy: op prior variances ``[E, K]`` capped by their edge's, ``(1/gamma_op + 1/gamma_edge)^-1``."""
    return (gamma_op.reciprocal() + gamma_edge.reciprocal().unsqueeze(-1)).reciprocal()


class BayesNASModel(torch.nn.Module):
    """Zero-mean Gaussian op and edge gates with ARD variances ``ard.<cell>_op [E, K]``, ``ard.<cell>_edge [E]``.

    Args:
        supernet, space: the weight-sharing network and its search space.
        init_variance: initial prior variance of every gate.
        kl_weight: weight of the gates' KL terms (a tempered posterior).
    """

    def __init__(
        self, supernet: torch.nn.Module, space: SearchSpace, init_variance: float = 1.0, kl_weight: float = 1e-2
    ):
        super().__init__()
        if init_variance <= 0:
            raise ValueError(f"init_variance must be > 0, got {init_variance}")
        self.supernet = supernet
        self.space = space
        self.kl_weight = kl_weight
        self.ard = PyroModule(name="ard")
        device = next(supernet.parameters()).device
        for cell, (edges, ops) in space.arch_shape.items():
            op_init, edge_init = torch.full((edges, ops), init_variance), torch.full((edges,), init_variance)
            setattr(self.ard, f"{cell}_op", PyroParam(op_init.to(device), constraints.positive))
            setattr(self.ard, f"{cell}_edge", PyroParam(edge_init.to(device), constraints.positive))

    def variances(self, cell: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Prior variances ``(gamma_op_eff [E, K], gamma_edge [E])`` of one cell type."""
        gamma_edge = getattr(self.ard, f"{cell}_edge")
        return effective_variance(getattr(self.ard, f"{cell}_op"), gamma_edge), gamma_edge

    def arch(self) -> dict[str, torch.Tensor]:
        """Sample the gates; return mixing weights ``{cell: s_op * s_edge[:, None]}``, each ``[E, K]``."""
        weights = {}
        for cell in self.space.cell_types:
            gamma_op, gamma_edge = self.variances(cell)
            with kl_weight(self.kl_weight):
                s_edge = pyro.sample(f"arch.{cell}.edge_gates", dist.Normal(0.0, gamma_edge.sqrt()).to_event(1))
                s_op = pyro.sample(f"arch.{cell}.op_gates", dist.Normal(0.0, gamma_op.sqrt()).to_event(2))
            weights[cell] = s_op * s_edge.unsqueeze(-1)
        return weights

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return classify(self.supernet, images, labels, self.arch())

    @torch.no_grad()
    def summary(self) -> dict:
        """JSON-able: the fitted ARD variances per cell type, ``edge [E]`` and effective ``op [E, K]`` (rounded)."""
        out = {}
        for cell in self.space.cell_types:
            gamma_op, gamma_edge = self.variances(cell)
            out[cell] = {
                "edge": [float(f"{v:.4g}") for v in gamma_edge.tolist()],
                "op": [[float(f"{v:.4g}") for v in row] for row in gamma_op.tolist()],
            }
        return {"ard_variances": out}


# -- the method's plugin spec (found by pyronas.registry; see pyronas.infer.contract for the contract) --
from pyronas.guides.bayesnas import BayesNASGuide  # noqa: E402

from pyronas.registry import MethodSpec  # noqa: E402

SPEC = MethodSpec(
    "bayesnas",
    BayesNASModel,
    BayesNASGuide,
    protocol={
        "epochs": 1,
        "warmup_epochs": 0,
        "weight_decay": 3e-4,
        "arch_optim": "adam",
        "arch_lr": 0.05,
        "arch_weight_decay": 0.0,
    },
    option_bounds={
        "init_variance": "positive",
        "kl_weight": "non-negative",
        "init_scale": "positive",
        "threshold": "non-negative",
    },
    description="BayesNAS: Gaussian op and edge gates under hierarchical ARD priors (one epoch), compression",
)
