import pytest
import torch

import pyronas.spaces  # noqa: F401  (pyronas.spaces and pyronas.nn.nb201 import each other: load spaces first)
from pyronas.nn.nb201 import MixedOp, NB201Supernet
from pyronas.nn.ops import Zero
from pyronas.nn.partial import channel_shuffle, widen_tensor
from pyronas.spaces.nb201_cells import OPS

CONV3 = OPS.index("nor_conv_3x3")


def _conv_weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p for name, p in module.named_parameters() if p.dim() == 4 and ".edges." in f".{name}"]


@pytest.mark.parametrize("k", [1, 2, 4])
def test_shapes_for_partial_channels(k):
    supernet = NB201Supernet(channels=8, cells_per_stage=1, num_classes=3, in_channels=1, partial_channels=k)
    out = supernet(torch.randn(2, 1, 8, 8), torch.full((6, 5), 0.2))
    assert out.shape == (2, 3)
    op = MixedOp(8, partial_channels=k)
    assert op.ops[CONV3][1].weight.shape == (8 // k, 8 // k, 3, 3)
    x = torch.randn(2, 8, 5, 5)
    assert op(x, torch.full((5,), 0.2)).shape == x.shape


def test_bad_partial_channels_is_a_clear_error():
    with pytest.raises(ValueError, match="positive divisor of the channel count 8"):
        NB201Supernet(channels=8, cells_per_stage=1, partial_channels=3)


@pytest.mark.parametrize("train", [True, False])
def test_one_partial_channel_is_the_plain_mixture_bit_for_bit(train):
    torch.manual_seed(0)
    op = MixedOp(8, partial_channels=1).train(train)
    x, w = torch.randn(4, 8, 6, 6), torch.rand(5)
    expected = None
    for k, candidate in enumerate(op.ops):
        if not isinstance(candidate, Zero):
            term = w[k] * candidate(x)
            expected = term if expected is None else expected + term
    assert torch.equal(op(x, w), expected)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_channel_shuffle_is_a_permutation(groups):
    c = 8
    x = torch.arange(c, dtype=torch.float32).view(1, c, 1, 1).expand(2, c, 3, 3)
    out = channel_shuffle(x, groups)
    order = out[0, :, 0, 0].long()
    assert sorted(order.tolist()) == list(range(c))
    # channel g * (C / groups) + j lands at j * groups + g
    assert all(order[j * groups + g] == g * (c // groups) + j for g in range(groups) for j in range(c // groups))
    assert torch.equal(out[:, :, 1:, 1:], x[:, order][:, :, 1:, 1:])


def test_bypass_channels_pass_unchanged_and_only_the_first_quarter_is_mixed():
    torch.manual_seed(1)
    op = MixedOp(8, partial_channels=4)
    x, w = torch.randn(3, 8, 5, 5), torch.rand(5)
    order = channel_shuffle(torch.arange(8.0).view(1, 8, 1, 1), 4).flatten().long()
    unshuffled = torch.empty_like(x)
    unshuffled[:, order] = op(x, w)
    assert torch.equal(unshuffled[:, 2:], x[:, 2:])
    assert torch.equal(unshuffled[:, :2], op._mix(x[:, :2], w))


def test_pruned_ops_are_not_computed_and_get_no_weight():
    torch.manual_seed(2)
    supernet = NB201Supernet(channels=8, cells_per_stage=1, num_classes=3, in_channels=1, partial_channels=2)
    params_before = sum(p.numel() for p in supernet.parameters())
    keep = torch.zeros(6, 5, dtype=torch.bool)
    keep[:, [1, 3, 4]] = True  # skip, conv3x3, avg pool
    keep[0, 3], keep[0, 2] = False, True  # edge 0 swaps conv3x3 for conv1x1
    supernet.prune(keep)
    calls = []
    for edges in supernet.mixed_ops():
        for e, op in enumerate(edges):
            for k, candidate in enumerate(op.ops):
                candidate.register_forward_hook(lambda *_, e=e, k=k: calls.append((e, k)))
    x = torch.randn(2, 1, 8, 8)
    w = torch.rand(6, 5, requires_grad=True)
    out = supernet(x, w)
    computed = {(e, k) for e, k in calls if not isinstance(supernet.mixed_ops()[0][e].ops[k], Zero)}
    assert computed == {(e, k) for e in range(6) for k in range(5) if keep[e, k] and OPS[k] != "none"}
    assert sum(p.numel() for p in supernet.parameters()) < params_before
    out.sum().backward()
    assert w.grad[~keep].abs().sum() == 0 and w.grad[keep].abs().sum() > 0
    w2 = w.detach().clone()
    w2[~keep] = 7.0
    assert torch.equal(supernet(x, w2), supernet(x, w.detach()))


@pytest.mark.parametrize("train", [True, False])
def test_widening_computes_the_old_op_on_each_copy_of_a_replicated_input(train):
    torch.manual_seed(3)
    op = MixedOp(8, partial_channels=4)
    op(torch.randn(6, 8, 5, 5), torch.rand(5))  # non-trivial running statistics
    old = [candidate for candidate in op.ops]
    op.set_partial_channels(2)
    assert op.partial_channels == 2 and op.ops[CONV3][1].weight.shape == (4, 4, 3, 3)
    x = torch.randn(4, 2, 5, 5)
    for k, (before, after) in enumerate(zip(old, op.ops)):
        before.train(train)
        after.train(train)
        expected = before(x)
        assert torch.allclose(after(torch.cat([x, x], 1)), torch.cat([expected, expected], 1), atol=1e-5), OPS[k]
    # the trained weights are replicated, not re-initialised
    assert torch.equal(op.ops[CONV3][1].weight[:2, :2] * 2, old[CONV3][1].weight)
    assert torch.equal(op.ops[CONV3][2].running_var, old[CONV3][2].running_var.repeat(2))


def test_widen_tensor_is_linear_so_momentum_steps_commute():
    w, m = torch.randn(3, 3, 3, 3), torch.randn(3, 3, 3, 3)
    assert torch.allclose(widen_tensor(w, 2) - 0.1 * widen_tensor(m, 2), widen_tensor(w - 0.1 * m, 2))
    assert widen_tensor(torch.randn(5), 4).shape == (20,)
    assert torch.equal(widen_tensor(torch.tensor(7), 2), torch.tensor(7))


def test_narrowing_reinitialises_and_returns_no_state_map():
    supernet = NB201Supernet(channels=8, cells_per_stage=1, partial_channels=1)
    assert supernet.set_partial_channels(4) is None
    assert supernet.mixed_ops()[0][0].ops[CONV3][1].weight.shape == (2, 2, 3, 3)
    assert supernet.set_partial_channels(2) is not None
