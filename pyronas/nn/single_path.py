"""Single-path sampling of a mixed op: compute one op per edge instead of all of them.

An edge's mixed output ``sum_k w[k] * op_k(x)`` is replaced by ``(w[k] / p[k]) * op_k(x)`` for one
op ``k`` drawn with probability ``p = |w| / sum |w|`` (``p`` a constant for autograd). This is an
importance-weighted estimate: over the draw, its value is the mixed output and its gradient with
respect to ``w`` is the mixed output's gradient, ``E[d out / d w[j]] = op_j(x)``, for any real
weights (Dirichlet or softmax samples, Gaussian or Bernoulli gates). The network is nonlinear in
the edge outputs, so a step is a stochastic approximation of the mixed step, as in GDAS [1], at
roughly ``1 / K`` of its cost. Weights that are all zero on an edge give a zero output.

Every search cell draws its own path; all draws of a forward pass are made at once, so on a GPU
single-path sampling costs one host-device synchronisation per forward pass (the chosen ops must
be known on the host).

References:
    [1] X. Dong, Y. Yang. Searching for a Robust Neural Architecture in Four GPU Hours. CVPR 2019.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Path(NamedTuple):
    """One cell's draw: ``ops[e]`` is the op index computed on edge ``e``, ``scales[e]`` (a tensor
    ``[E]``, differentiable in the weights) multiplies its output."""

    ops: list[int]
    scales: torch.Tensor


def op_probabilities(weights: torch.Tensor) -> torch.Tensor:
    """Sampling probabilities ``|w| / sum |w|`` per edge of ``weights [E, K]`` (uniform where all are 0)."""
    w = weights.detach().float().abs()
    total = w.sum(-1, keepdim=True)
    return torch.where(total > 0, w / total.clamp_min(torch.finfo(w.dtype).tiny), torch.full_like(w, 1 / w.shape[-1]))


def draw_paths(weights: torch.Tensor, cells: int) -> list[Path]:
    """Draw one op per edge for each of ``cells`` cells that share ``weights [E, K]``.

    Uses the global torch generator of ``weights``' device. Returns ``cells`` :class:`Path` s.
    """
    if weights.dim() != 2:
        raise ValueError(f"mixing weights must be [edges, ops], got shape {list(weights.shape)}")
    probs = op_probabilities(weights)
    ops = torch.multinomial(probs, cells, replacement=True)  # [E, cells]
    scales = weights.gather(-1, ops) / probs.gather(-1, ops).to(weights.dtype)  # [E, cells]
    chosen = ops.T.tolist()  # the one host-device synchronisation
    return [Path(chosen[i], scales[:, i]) for i in range(cells)]


def edge_output(
    mixed_op: torch.nn.Module, x: torch.Tensor, weights: torch.Tensor, edge: int, path: Path | None
) -> torch.Tensor:
    """Edge ``edge`` of a cell: ``mixed_op(x, weights[edge])``, or only the op ``path`` drew for it."""
    if path is None:
        return mixed_op(x, weights[edge])
    return mixed_op.single(x, path.ops[edge], path.scales[edge])
