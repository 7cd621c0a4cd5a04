"""Natural-gradient VI for diagonal Gaussians: the variational online-Newton / Vadam update.

A plain ``torch.optim.Optimizer`` whose parameter groups are (location, scale) pairs of one
mean-field Gaussian ``q(z) = N(loc, scale^2)``. The location follows a preconditioned gradient
step; the scale is *written* from a running precision estimate instead of following its own
gradient. :class:`pyronas.optim.NGVI` wraps it for Pyro (pairs found by parameter name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch.distributions import constraints, transform_to

CURVATURES = ("reparam", "gradsq")


def check_options(
    lr: float, betas: tuple[float, float], prior_precision: float, num_data: float, curvature: str, **_
) -> None:
    """Raise a one-line ``ValueError`` for options NGVI cannot use."""
    if lr <= 0 or not all(0 <= b < 1 for b in betas) or num_data <= 0 or prior_precision < 0:
        raise ValueError(
            f"NGVI needs lr > 0, 0 <= betas < 1, num_data > 0, prior_precision >= 0; got lr={lr}, "
            f"betas={betas}, num_data={num_data}, prior_precision={prior_precision}"
        )
    if curvature not in CURVATURES:
        raise ValueError(f"unknown curvature {curvature!r}; choose one of: {', '.join(CURVATURES)}")
    if curvature == "gradsq" and prior_precision <= 0:
        raise ValueError("curvature='gradsq' (Vadam) needs prior_precision > 0: the precision is N s + lam")


class NGVIOptimizer(torch.optim.Optimizer):
    r"""Bayesian-learning-rule step on Gaussian variational parameters (VON with the reparameterisation
    Hessian, or Vadam with squared gradients).

    Each parameter group holds ``params = [loc, raw_scale]`` with ``scale = transform_to(scale_constraint)(raw_scale)``
    (the tensors Pyro's param store holds are unconstrained). With ``L`` the loss whose gradients
    are in ``.grad`` (the negative ELBO, prior and entropy included), ``N = num_data`` such that
    ``N * L`` is the full negative ELBO, ``lam = prior_precision`` and ``P = N s + lam`` the
    precision (``scale = P^{-1/2}``), one step is:

    1. ``m <- b1 m + (1 - b1) dL/dloc``; ``m_hat = m / (1 - b1^t)``.
    2. ``curvature="reparam"``: ``h = P + N dL/dscale / scale`` estimates ``E_q[d^2 (N L) / dz^2]``
       (Price's theorem: ``dL/dscale = E[eps * dF/dz] - 1/scale`` for the integrand ``F``, i.e. the
       reparameterisation estimate ``E[eps * grad] / scale`` of the expected Hessian); then
       ``s <- b2 s + (1 - b2) (h - lam) / N``, i.e. ``P <- b2 P + (1 - b2) h``, a natural-gradient
       step on the precision; ``P`` may at most halve per step (a single negative curvature
       sample cannot make it non-positive). ``loc <- loc - lr m_hat / (s + lam / N)``
       (``= loc - lr N m_hat / P``: a Newton step).
    3. ``curvature="gradsq"`` (Vadam): ``s <- b2 s + (1 - b2) (dL/dloc)^2``;
       ``loc <- loc - lr m_hat / (sqrt(s) + lam / N + eps)``.
    4. ``scale <- (N s + lam)^{-1/2}``, written through the inverse of the constraint transform.

    The prior's gradient is *not* added: it is in ``dL/dloc`` already when the model holds the prior
    (Pyro's convention). ``prior_precision`` only enters the precision ``P`` (the squared gradient
    cannot see the prior's curvature) and the denominators; for ``"reparam"`` it cancels, because
    ``h`` includes the prior's curvature through the ELBO. At a fixed point of the reparam update
    ``E[dL/dloc] = 0`` and ``dL/dscale = 0``: the exact stationary point of the ELBO, so on a
    conjugate Gaussian model the exact mean-field optimum. ``s`` starts from the initial scale
    (no bias correction); ``m`` from zero. State per location: ``exp_avg``, ``exp_avg_curv``
    (two buffers, as Adam) and a step count; scales hold no state.

    Args:
        params: iterable of ``(loc, raw_scale)`` pairs, or of dicts ``{"params": [loc, raw_scale], ...}``
            with per-pair options (e.g. ``scale_constraint``).
        lr: step size of the location (a fraction of a Newton step for ``"reparam"``).
        betas: ``(b1, b2)``: EMA rates of the gradient and of the curvature (``1 - b2`` is the
            natural-gradient step of the precision).
        prior_precision: ``lam`` of the model's Gaussian prior ``N(0, 1/lam)``, in units of ``N L``.
        num_data: ``N``, the factor that makes ``N L`` the full negative ELBO (1 when the loss
            already is; ``1 / kl_weight`` when the likelihood is a per-datum mean and the KL is
            weighted by ``kl_weight``).
        curvature: ``"reparam"`` (expected Hessian, exact fixed point) or ``"gradsq"`` (Vadam).
        eps: added to Vadam's denominator.
        scale_constraint: default constraint of ``raw_scale`` (``positive``: ``raw_scale`` is the log-scale).

    References:
        [1] M. E. Khan, D. Nielsen, V. Tangkaratt, W. Lin, Y. Gal, A. Srivastava. Fast and Scalable
            Bayesian Deep Learning by Weight-Perturbation in Adam. ICML 2018.
        [2] M. E. Khan, H. Rue. The Bayesian Learning Rule. JMLR 24, 2023.
        [3] M. Opper, C. Archambeau. The Variational Gaussian Approximation Revisited. Neural
            Computation 21(3), 2009.
        [4] M. Zhang, Y. Wang, ... BaLeNAS: Differentiable Architecture Search via the Bayesian
            Learning Rule. CVPR 2022.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.999),
        prior_precision: float = 0.0,
        num_data: float = 1.0,
        curvature: str = "reparam",
        eps: float = 1e-8,
        scale_constraint: constraints.Constraint = constraints.positive,
    ):
        check_options(lr, betas, prior_precision, num_data, curvature)
        groups = [p if isinstance(p, dict) else {"params": list(p)} for p in params]
        for group in groups:
            if len(group["params"]) != 2:
                raise ValueError("each NGVI parameter group is one (loc, raw_scale) pair")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            prior_precision=prior_precision,
            num_data=num_data,
            curvature=curvature,
            eps=eps,
            scale_constraint=scale_constraint,
        )
        super().__init__(groups, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            loc, raw_scale = group["params"]
            if loc.grad is None:
                continue
            self._step_pair(group, loc, raw_scale)
        return loss

    def _step_pair(self, group: dict, loc: torch.Tensor, raw_scale: torch.Tensor) -> None:
        b1, b2 = group["betas"]
        n, lam, reparam = group["num_data"], group["prior_precision"], group["curvature"] == "reparam"
        transform = transform_to(group["scale_constraint"])
        scale = transform(raw_scale)
        state = self.state[loc]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float64)
            state["exp_avg"] = torch.zeros_like(loc)
            curv = (scale.pow(-2) - lam) / n
            state["exp_avg_curv"] = curv if reparam else curv.clamp_min(0.0)
        state["step"] += 1
        m, s = state["exp_avg"], state["exp_avg_curv"]
        grad = loc.grad
        m.lerp_(grad, 1 - b1)
        m_hat = m / (1 - b1 ** float(state["step"]))
        if reparam:
            if raw_scale.grad is None:
                raise RuntimeError(
                    "NGVI curvature='reparam' needs the scale's gradient, but the scale paired with a "
                    "location has none; sample the site from a reparameterised Normal guide"
                )
            dscale = transform.log_abs_det_jacobian(raw_scale, scale).exp()  # elementwise d scale / d raw
            grad_scale = raw_scale.grad / dscale
            precision = n * s + lam
            h = precision + n * grad_scale / scale  # reparameterisation estimate of E[d2(N L)/dz2]
            s.mul_(b2).add_((h - lam) / n, alpha=1 - b2)
            torch.maximum(s, (0.5 * precision - lam) / n, out=s)  # P may at most halve per step
            loc.sub_(group["lr"] * m_hat / (s + lam / n))
        else:
            s.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            loc.sub_(group["lr"] * m_hat / (s.sqrt() + lam / n + group["eps"]))
        raw_scale.copy_(transform.inv((n * s + lam).rsqrt()))
