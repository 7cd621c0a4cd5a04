"""Tiny standalone networks for the cost tests: C=4, one cell per stage, 16 x 16 images; a network of your own at
the digits search's size."""

import pyro
import pytest
import torch
from pyro import poutine

from pyronas.costs import NetworkSize, expected_cost
from pyronas.spaces import get_space

SIZE = NetworkSize(channels=4, cells_per_stage=1, num_classes=10, in_channels=3, image_size=16)
DIGITS = NetworkSize(channels=8, cells_per_stage=1, num_classes=10, in_channels=1, image_size=8)  # the search's size
OWN_TINY_API = dict(dataset="digits", train_size=64, batch_size=32, epochs=1, progress=False)  # own network, digits


def random_genotypes(space, n: int, seed: int = 1) -> list[str]:
    """``n`` genotypes derived from random scores."""
    g = torch.Generator().manual_seed(seed)
    return [space.derive({c: torch.rand(s, generator=g) for c, s in space.arch_shape.items()}) for _ in range(n)]


def random_probabilities(space, seed: int = 0, batch: tuple = ()) -> dict[str, torch.Tensor]:
    """Random per-row distributions ``{table: float64 [*batch, rows, K]}`` for ``space``."""
    g = torch.Generator().manual_seed(seed)
    shapes = space.arch_shape.items()
    return {c: torch.rand(*batch, *s, generator=g, dtype=torch.float64).softmax(-1) for c, s in shapes}


@pytest.fixture(params=["nb201", "darts"])
def space(request):
    return get_space(request.param)


def check_cost_factor(wrapped, model, guide, supernet, table, weight: float):
    """Run ``wrapped`` (a CostPrior around ``model``) on a batch of two 8 x 8 one-channel images: its ``cost`` site
    is ``-weight`` times the expected cost under the mixing weights the supernet got, and its gradient reaches the
    architecture distribution's parameters, not the network's weights. Returns the guide's trace."""
    used = []
    supernet.register_forward_pre_hook(lambda module, args: used.append(args[1]))
    images, labels = torch.randn(2, 1, 8, 8), torch.tensor([0, 2])
    guide_trace = poutine.trace(guide).get_trace(images, labels)
    trace = poutine.trace(poutine.replay(wrapped, trace=guide_trace)).get_trace(images, labels)
    trace.compute_log_prob()
    factor = trace.nodes["cost"]["log_prob_sum"]
    assert torch.allclose(factor, -weight * expected_cost(table, used[-1]).to(factor.dtype))
    factor.backward()
    arch = [p for _, p in pyro.get_param_store().named_parameters()]
    arch += [p for n, p in model.named_parameters() if not n.startswith("supernet.")]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in arch)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in supernet.parameters())
    return guide_trace
