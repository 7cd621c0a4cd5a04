"""Tiny standalone networks for the cost tests: C=4, one cell per stage, 16 x 16 images."""

import pytest
import torch

from pyronas.costs import NetworkSize
from pyronas.spaces import get_space

SIZE = NetworkSize(channels=4, cells_per_stage=1, num_classes=10, in_channels=3, image_size=16)


def random_genotypes(space, n: int, seed: int = 1) -> list[str]:
    """``n`` genotypes derived from random scores."""
    g = torch.Generator().manual_seed(seed)
    return [space.derive({c: torch.rand(s, generator=g) for c, s in space.arch_shape.items()}) for _ in range(n)]


@pytest.fixture(params=["nb201", "darts"])
def space(request):
    return get_space(request.param)
