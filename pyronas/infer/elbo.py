"""An ELBO whose loss stays a tensor on the device, for search steps free of host-device syncs.

Pyro's :class:`~pyro.infer.Trace_ELBO` turns the loss into a Python float (``.item()``) inside every
step, which makes a GPU wait for the whole step before the next one is queued.
:class:`DeviceTrace_ELBO` computes the same estimator for models whose latent sites are all
reparameterised (every pyronas method: Delta, Normal, Dirichlet, RelaxedBernoulli) and returns it
as a 0-d tensor; :class:`~pyronas.infer.BilevelSVI` then steps without reading it back, and the
search loop checks for NaN once per epoch instead of once per step. Pyro's validation (whose NaN
warnings read every site's log-density back to the host) is switched off inside :meth:`tensor_loss`.
"""

from __future__ import annotations

import pyro
import torch
from pyro.infer import Trace_ELBO


class NotReparameterizedError(ValueError):
    """A guide site has no ``rsample``; its gradient needs a score-function term this ELBO does not add."""


class DeviceTrace_ELBO(Trace_ELBO):
    """``Trace_ELBO`` for fully reparameterised guides; :meth:`tensor_loss` never leaves the device."""

    def tensor_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        """``-ELBO`` averaged over ``num_particles``, a differentiable 0-d tensor."""
        with pyro.validation_enabled(False):
            return self._tensor_loss(model, guide, args, kwargs)

    def _tensor_loss(self, model, guide, args: tuple, kwargs: dict) -> torch.Tensor:
        loss = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            for name, site in guide_trace.nodes.items():
                if site["type"] == "sample" and not site["is_observed"] and not site["fn"].has_rsample:
                    raise NotReparameterizedError(
                        f"guide site {name!r} ({type(site['fn']).__name__}) cannot be sampled pathwise; "
                        "use elbo='trace' for this method"
                    )
            elbo = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
            loss = loss - elbo / self.num_particles
        return loss
