"""Building blocks that every model+guide pair uses.

A model samples architecture variables, turns them into mixing weights and calls
:func:`classify`; a guide samples the same sites. Wrap an architecture site in
:func:`kl_weight` in *both* model and guide to temper the KL term of the ELBO.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

SUPERNET = "supernet"  # pyro.module name of the supernet; its params are the "weights" group
LOGITS = "logits"  # deterministic site holding the supernet's logits
LABELS = "labels"  # observed site of the class labels


def classify(
    supernet: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    weights: torch.Tensor | Mapping[str, torch.Tensor],
) -> torch.Tensor:
    """Run the supernet with mixing ``weights`` and observe ``labels`` (mean cross-entropy).

    The likelihood is scaled by ``1 / batch_size``, so the data term of the ELBO is the mean
    batch cross-entropy, as in the DARTS protocol; priors are weighted with :func:`kl_weight`.

    Returns logits ``[B, num_classes]``.
    """
    pyro.module(SUPERNET, supernet)
    logits = supernet(images, weights).float()  # no-op in full precision; fp32 likelihood under autocast
    pyro.deterministic(LOGITS, logits, event_dim=2)
    with pyro.plate("data", images.shape[0]), poutine.scale(scale=1.0 / images.shape[0]):
        # no argument validation: NaN logits surface as a NaN loss, which the search loop reports
        pyro.sample(LABELS, dist.Categorical(logits=logits, validate_args=False), obs=labels)
    return logits


def kl_weight(weight: float):
    """Context that multiplies the log-densities of the enclosed sites by ``weight >= 0``.

    Applied to an architecture site in model and guide alike, it weights that site's KL term
    (a tempered posterior). A weight of 0 drops the term (``poutine.mask``).
    """
    if weight < 0:
        raise ValueError(f"KL weight must be >= 0, got {weight}")
    if weight == 0:
        return poutine.mask(mask=False)
    if weight == 1:
        return contextlib.nullcontext()
    return poutine.scale(scale=weight)
