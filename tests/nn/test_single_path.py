import pytest
import torch

from pyronas.nn import darts, nb201
from pyronas.nn.single_path import draw_paths, op_probabilities
from pyronas.spaces import get_space


def test_draws_follow_the_weight_magnitudes_and_reweight_by_them():
    weights = torch.tensor([[0.5, -0.25, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0]])
    torch.manual_seed(0)
    paths = draw_paths(weights, 20000)
    ops = torch.tensor([p.ops for p in paths])  # [draws, edges]
    freq = torch.stack([(ops[:, 0] == k).float().mean() for k in range(4)])
    assert torch.allclose(freq, torch.tensor([0.5, 0.25, 0.25, 0.0]), atol=0.02)
    assert freq[3] == 0, "an op of weight 0 is never drawn"
    scales = torch.stack([p.scales for p in paths])
    assert torch.allclose(scales[:, 0], torch.where(ops[:, 0] == 1, -1.0, 1.0))  # w / p = sign(w) * sum |w|
    assert torch.equal(scales[:, 1], torch.zeros(20000)), "an all-zero edge contributes nothing"
    assert torch.allclose(op_probabilities(weights)[1], torch.full((4,), 0.25))


def test_draws_are_reproducible_and_differentiable():
    weights = torch.rand(6, 5, requires_grad=True)
    torch.manual_seed(3)
    a = draw_paths(weights, 4)
    torch.manual_seed(3)
    b = draw_paths(weights, 4)
    assert [p.ops for p in a] == [p.ops for p in b]
    sum(p.scales.sum() for p in a).backward()
    assert weights.grad is not None and weights.grad.abs().sum() > 0


def _mixed_ops():
    yield "nb201", nb201.MixedOp(4)
    yield "nb201-partial", nb201.MixedOp(4, partial_channels=2)
    yield "darts", darts.MixedOp(4, stride=1)
    yield "darts-reduce", darts.MixedOp(4, stride=2)


@pytest.mark.parametrize("name,mixed", list(_mixed_ops()), ids=lambda v: v if isinstance(v, str) else "")
def test_expected_single_path_output_and_gradient_are_the_mixed_ones(name, mixed):
    """Sum over ops of p[k] times the single-path edge equals the mixed edge, value and gradient (exact)."""
    torch.manual_seed(0)
    k = len(mixed.ops)
    weights = torch.randn(k, dtype=torch.float64).requires_grad_(True)  # signed, like Gaussian gates
    mixed = mixed.double()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    probe = torch.randn_like(mixed(x, weights))

    dense = (mixed(x, weights) * probe).sum()
    (grad_dense,) = torch.autograd.grad(dense, weights)
    probs = op_probabilities(weights[None])[0].double()
    expected = sum(probs[j] * (mixed.single(x, j, weights[j] / probs[j]) * probe).sum() for j in range(k))
    (grad_expected,) = torch.autograd.grad(expected, weights)
    assert torch.allclose(expected, dense, atol=1e-9)
    assert torch.allclose(grad_expected, grad_dense, atol=1e-9)


def _supernet_and_one_hot(space_name: str):
    space = get_space(space_name)
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=3)
    generator = torch.Generator().manual_seed(1)
    weights = {}
    for cell, (edges, ops) in space.arch_shape.items():
        choice = torch.randint(0, ops, (edges,), generator=generator)
        weights[cell] = torch.nn.functional.one_hot(choice, ops).float()
    return supernet, weights


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_one_hot_weights_give_the_mixed_output(space_name):
    supernet, weights = _supernet_and_one_hot(space_name)
    x = torch.randn(4, 3, 16, 16)
    dense = supernet(x, weights)
    supernet.single_path = True
    assert torch.allclose(supernet(x, weights), dense, atol=1e-5)


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_single_path_computes_one_op_per_edge_only_in_training(space_name):
    space = get_space(space_name)
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=3)
    calls = []
    mixed_ops = [m for m in supernet.modules() if isinstance(m, (nb201.MixedOp, darts.MixedOp))]
    for mixed in mixed_ops:
        for op in mixed.ops:
            op.register_forward_hook(lambda *_: calls.append(1))
    weights = {cell: torch.rand(shape) + 0.1 for cell, shape in space.arch_shape.items()}
    none = {cell: [i for i, name in enumerate(space.ops) if name == "none"] for cell in weights}
    for cell, cols in none.items():
        weights[cell][:, cols] = 0.0  # "none" is never computed, so leave it out of the count
    x = torch.randn(2, 3, 16, 16)
    supernet(x, weights)
    dense = len(calls)
    supernet.single_path = True
    calls.clear()
    supernet(x, weights)
    assert len(calls) == len(mixed_ops) < dense
    calls.clear()
    supernet.eval()
    supernet(x, weights)
    assert len(calls) == dense, "evaluation mixes every op"
