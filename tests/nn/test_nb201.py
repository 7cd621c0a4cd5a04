import random

import pytest
import torch

from pyronas.nn.nb201 import NB201Network, NB201Supernet
from pyronas.nn.ops import AvgPool
from pyronas.spaces import get_space
from pyronas.spaces.nb201_cells import NUM_CELLS, from_ordinal


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_param_counts_match_benchmark_for_98_percent(nb201_table):
    rows = random.Random(1).sample(list(nb201_table), 200)
    matches = sum(abs(count(NB201Network(r["arch"])) / 1e6 - r["params_m"]) < 1e-6 for r in rows)
    assert matches >= 0.98 * len(rows), f"only {matches}/{len(rows)} parameter counts match params_m"


def test_param_count_of_all_conv3x3_cell(nb201_table):
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert count(NB201Network(cell)) == round(nb201_table.query(cell)["params_m"] * 1e6)


def test_avg_pool_matches_torch():
    x = torch.randn(3, 4, 7, 9)
    expected = torch.nn.AvgPool2d(3, 1, 1, count_include_pad=False)(x)
    assert torch.allclose(AvgPool()(x), expected, atol=1e-6)


def _copy_weights(supernet: NB201Supernet, network: NB201Network, ops: list[int]) -> None:
    state = {}
    for key, value in supernet.state_dict().items():
        parts = key.split(".")
        if len(parts) > 5 and parts[0] == "cells" and parts[2] == "edges" and parts[4] == "ops":
            edge, op = int(parts[3]), int(parts[5])
            if op != ops[edge]:
                continue
            key = ".".join(parts[:4] + parts[6:])
        state[key] = value
    missing, unexpected = network.load_state_dict(state, strict=False)
    assert not unexpected
    assert all(k.endswith((".weight", ".bias")) and ".edges." in k for k in missing)  # affine BN only


@pytest.mark.parametrize("ordinal", [0, 1234, 7777, NUM_CELLS - 1])
@pytest.mark.parametrize("train", [True, False])
def test_supernet_with_one_hot_weights_equals_standalone_network(ordinal, train):
    space = get_space("nb201")
    cell = from_ordinal(ordinal)
    torch.manual_seed(ordinal)
    supernet = NB201Supernet(channels=8, cells_per_stage=2, num_classes=10)
    network = NB201Network(cell, channels=8, cells_per_stage=2, num_classes=10)
    x = torch.randn(4, 3, 16, 16)
    supernet.train()(x, torch.full((6, 5), 0.2))  # non-trivial running statistics
    _copy_weights(supernet, network, list(space.one_hot(cell)["cell"].argmax(-1)))
    supernet.train(train)
    network.train(train)
    weights = space.one_hot(cell)
    assert torch.allclose(supernet(x, weights), network(x), atol=1e-5)


def test_supernet_rejects_wrong_weight_shape():
    supernet = NB201Supernet(channels=4, cells_per_stage=1)
    with pytest.raises(ValueError, match=r"shape \[6, 5\]"):
        supernet(torch.randn(2, 3, 8, 8), torch.ones(5, 5))


def test_supernet_gradients_reach_weights_and_mixing_weights():
    supernet = NB201Supernet(channels=4, cells_per_stage=1, in_channels=1, num_classes=3)
    w = torch.full((6, 5), 0.2, requires_grad=True)
    supernet(torch.randn(2, 1, 8, 8), w).sum().backward()
    assert w.grad is not None and w.grad[:, 1:].abs().sum() > 0
    assert w.grad[:, 0].abs().sum() == 0  # `none` contributes nothing
