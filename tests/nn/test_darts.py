import pytest
import torch

from pyronas.nn.darts import DARTSNetwork, DARTSSupernet, MixedOp, reduction_layers
from pyronas.nn.darts_ops import FactorizedReduce, darts_op, drop_path
from pyronas.spaces import get_space
from pyronas.spaces.darts_genotype import DARTS_V2, OPS, edge_index, make_genotype
from pyronas.train import count_parameters

# no pools: with one-hot weights the supernet computes exactly this cell's network
POOL_FREE = make_genotype(
    normal=[
        ("sep_conv_3x3", 0),
        ("dil_conv_5x5", 1),
        ("skip_connect", 0),
        ("sep_conv_5x5", 2),
        ("dil_conv_3x3", 1),
        ("skip_connect", 3),
        ("sep_conv_3x3", 4),
        ("skip_connect", 2),
    ],
    reduce=[
        ("skip_connect", 0),
        ("sep_conv_5x5", 1),
        ("dil_conv_3x3", 2),
        ("skip_connect", 1),
        ("sep_conv_3x3", 0),
        ("dil_conv_5x5", 3),
        ("skip_connect", 4),
        ("sep_conv_3x3", 2),
    ],
)


def random_weights() -> dict[str, torch.Tensor]:
    return {cell: 3 * torch.rand(14, 8) for cell in ("normal", "reduce")}  # unnormalised, like BayesNAS gates


@pytest.mark.parametrize("in_channels, size", [(1, 8), (3, 32)])
def test_supernet_output_shape_and_gradients(in_channels, size):
    net = DARTSSupernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=in_channels)
    assert len(net.cells) == 5 and [c.reduce for c in net.cells] == [False, True, False, True, False]
    weights = {k: w.requires_grad_() for k, w in random_weights().items()}
    logits = net(torch.randn(2, in_channels, size, size), weights)
    assert logits.shape == (2, 10)
    logits.sum().backward()
    for w in weights.values():  # every op except `none` feeds the output
        assert (w.grad[:, 1:] != 0).all() and (w.grad[:, 0] == 0).all()


def test_published_search_network_has_eight_cells_with_reductions_at_thirds():
    assert reduction_layers(8) == (2, 5) and reduction_layers(20) == (6, 13)
    net = get_space("darts").supernet(num_classes=10)
    assert len(net.cells) == 8 and [i for i, c in enumerate(net.cells) if c.reduce] == [2, 5]
    assert net.stem[0].out_channels == 48  # stem multiplier 3 x C=16


def test_supernet_rejects_malformed_weights():
    net = DARTSSupernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    with pytest.raises(ValueError, match="mapping"):
        net(torch.randn(2, 1, 8, 8), torch.rand(14, 8))
    with pytest.raises(ValueError, match=r"\[14, 8\]"):
        net(torch.randn(2, 1, 8, 8), {"normal": torch.rand(14, 8), "reduce": torch.rand(6, 5)})


def test_mixed_op_skips_none_and_batch_normalises_pools():
    mixed = MixedOp(4, stride=2)
    assert 0 not in mixed._active and len(mixed._active) == 7
    assert isinstance(mixed.ops[OPS.index("max_pool_3x3")][1], torch.nn.BatchNorm2d)
    assert not mixed.ops[OPS.index("max_pool_3x3")][1].affine
    assert isinstance(mixed.ops[OPS.index("skip_connect")], FactorizedReduce)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("size", [1, 2, 7, 8])
@pytest.mark.parametrize("stride", [1, 2])
def test_every_op_keeps_channels_and_gives_ceil_size(name, size, stride):
    op = darts_op(name, 4, stride)
    out = op(torch.randn(2, 4, size, size))
    expected = -(-size // stride)
    assert out.shape == (2, 4, expected, expected)


def _selected_supernet_op(supernet: DARTSSupernet, i: int, dst: int, src: int, name: str) -> torch.nn.Module:
    op = supernet.cells[i].edges[edge_index(dst, src)].ops[OPS.index(name)]
    return op[0] if "pool" in name else op  # the supernet appends BN(affine=False) to pools


def test_one_hot_supernet_selects_the_ops_of_the_evaluation_network():
    space = get_space("darts")
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    network = space.network(DARTS_V2, channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    for i, (s_cell, n_cell) in enumerate(zip(supernet.cells, network.cells)):
        pairs = DARTS_V2.reduce if n_cell.reduce else DARTS_V2.normal
        assert s_cell.reduce == n_cell.reduce
        for k, (name, src) in enumerate(pairs):
            ours, theirs = n_cell.ops[k], _selected_supernet_op(supernet, i, 2 + k // 2, src, name)
            assert type(ours) is type(theirs)
            shapes = [p.shape for p in ours.parameters() if p.dim() > 1]  # convolutions (BN is affine only here)
            assert shapes == [p.shape for p in theirs.parameters()]


@pytest.mark.parametrize("train", [True, False])
def test_one_hot_supernet_computes_the_evaluation_network(train):
    space = get_space("darts")
    torch.manual_seed(0)
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=3)
    network = space.network(str(POOL_FREE), channels=4, cells_per_stage=1, num_classes=10, in_channels=3)
    weights = space.one_hot(POOL_FREE)
    x = torch.randn(4, 3, 16, 16)
    supernet.train()(x, random_weights())  # non-trivial running statistics
    state = {}
    for key, value in supernet.state_dict().items():
        parts = key.split(".")
        if parts[0] == "cells" and parts[2] == "edges":
            i, e, k = int(parts[1]), int(parts[3]), int(parts[5])
            pairs = POOL_FREE.reduce if supernet.cells[i].reduce else POOL_FREE.normal
            chosen = [j for j, (name, src) in enumerate(pairs) if edge_index(2 + j // 2, src) == e]
            if not chosen or OPS[k] != pairs[chosen[0]][0]:
                continue
            key = ".".join(["cells", parts[1], "ops", str(chosen[0]), *parts[6:]])
        state[key] = value
    missing, unexpected = network.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith((".weight", ".bias")) for k in missing)  # affine BN only
    supernet.train(train)
    network.train(train)
    assert torch.allclose(supernet(x, weights), network(x), atol=1e-5)


def test_darts_v2_cifar10_network_has_the_published_3_3_million_parameters():
    net = get_space("darts").network("DARTS_V2", auxiliary=True)  # C=36, 20 cells, 10 classes
    assert len(net.cells) == 20 and [i for i, c in enumerate(net.cells) if c.reduce] == [6, 13]
    params = count_parameters(net)
    assert abs(params - 3.3e6) <= 0.1e6, params
    assert sum(p.numel() for p in net.parameters()) - params == sum(p.numel() for p in net.auxiliary_head.parameters())


def test_auxiliary_logits_only_in_training():
    net = DARTSNetwork(DARTS_V2, channels=4, cells_per_stage=1, num_classes=10, in_channels=3, auxiliary=True)
    logits, aux = net.train()(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    assert net.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    plain = DARTSNetwork(DARTS_V2, channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    assert plain.train()(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_drop_path_is_active_only_in_training():
    torch.manual_seed(0)
    net = DARTSNetwork(DARTS_V2, channels=4, cells_per_stage=1, num_classes=10, in_channels=3, drop_path=0.5)
    x = torch.randn(8, 3, 16, 16)
    net.train()
    torch.manual_seed(1)
    first = net(x)
    torch.manual_seed(2)
    assert not torch.allclose(first, net(x))  # different masks
    net.drop_path = 0.0
    assert torch.equal(net(x), net(x))
    net.eval()
    net.drop_path = 0.5
    assert torch.equal(net(x), net(x))


def test_drop_path_zeros_whole_samples_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(4000, 2, 3, 3)
    out = drop_path(x, 0.3)
    per_sample = out.flatten(1)
    assert ((per_sample == 0).all(1) | (per_sample == 1 / 0.7).all(1)).all()
    assert abs(float((per_sample[:, 0] == 0).float().mean()) - 0.3) < 0.03
    assert abs(float(out.mean()) - 1.0) < 0.05
    assert drop_path(x, 0.0) is x
