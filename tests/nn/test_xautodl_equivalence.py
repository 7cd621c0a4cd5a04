"""pyronas's networks against the NB201 authors' own implementation (xautodl 1.0.0).

For the NB201 standalone network (xautodl ``TinyNetwork``), the NB201 supernet (xautodl's DARTS-V1
search model ``TinyNetworkDarts``) and the DARTS evaluation network of the published genotypes
(xautodl's DARTS CIFAR network, ``nas_infer_model.DXYs.CifarNet``): equal parameter counts at full
size, and equal logits on a fixed batch once pyronas's weights and BatchNorm buffers are copied into
xautodl's network. State-dict entries are paired in registration order; shapes and entry kinds
(weight, bias, running_mean, ...) must agree pairwise. Logits are compared in float64.

xautodl is a test-only dependency: ``pip install --no-deps xautodl==1.0.0`` (its metadata pins an
old numpy and wants fvcore, neither of which its model code imports). Without it these tests skip.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import random
from collections.abc import Iterable

import pytest
import torch
from torch import nn

from pyronas.nn.darts import DARTSNetwork
from pyronas.nn.nb201 import NB201Network, NB201Supernet
from pyronas.spaces.darts_genotype import GENOTYPES, NUM_NODES, Genotype
from pyronas.spaces.nb201_cells import NUM_CELLS, OPS, from_ordinal

XAUTODL = "1.0.0"
try:
    _version = importlib.metadata.version("xautodl")
except importlib.metadata.PackageNotFoundError:
    _version = None
if _version != XAUTODL:
    pytest.skip(
        f"xautodl=={XAUTODL} not installed (found {_version}): pip install --no-deps xautodl=={XAUTODL}",
        allow_module_level=True,
    )

from xautodl.models.cell_infers.tiny_network import TinyNetwork  # noqa: E402
from xautodl.models.cell_operations import NAS_BENCH_201  # noqa: E402
from xautodl.models.cell_searchs.genotypes import Structure  # noqa: E402
from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts  # noqa: E402
from xautodl.nas_infer_model.DXYs.CifarNet import NetworkCIFAR  # noqa: E402
from xautodl.nas_infer_model.DXYs.genotypes import Genotype as XGenotype  # noqa: E402

# A fixed sample of NB201 cells: three by hand (all conv, all none, pools and skips), the rest drawn.
CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|skip_connect~2|",
] + [from_ordinal(i) for i in random.Random(201).sample(range(NUM_CELLS), 5)]
NAMES = ["DARTS_V1", "DARTS_V2", "PDARTS", "PC_DARTS", "DrNAS", "GDAS_V1"]  # one per distinct published cell


def count(module: nn.Module, skip: Iterable[nn.Parameter] = ()) -> int:
    skipped = {id(p) for p in skip}
    return sum(p.numel() for p in module.parameters() if id(p) not in skipped)


def randomise(module: nn.Module, seed: int) -> nn.Module:
    """Seeded random weights, and BatchNorm affines and running statistics that differ per layer."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) / fan_in**0.5)
                if m.bias is not None:
                    m.bias.copy_(0.5 * torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, nn.BatchNorm2d):
                if m.affine:
                    m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
    return module


def copy_state(ours: nn.Module, theirs: nn.Module, extra: Iterable[str] = ()) -> int:
    """Load ``ours``'s state into ``theirs``, entry by entry in registration order; ``extra``: their keys we lack.

    Fails on any difference in the number, kind or shape of the entries. Returns the entries copied.
    """
    extra = set(extra)
    mine = list(ours.state_dict().items())
    state = theirs.state_dict()
    keys = [k for k in state if k not in extra]
    assert len(mine) == len(keys), f"{len(mine)} state entries in pyronas, {len(keys)} in xautodl"
    for (ka, va), kb in zip(mine, keys):
        assert ka.rsplit(".", 1)[-1] == kb.rsplit(".", 1)[-1], f"pyronas {ka} pairs with xautodl {kb}"
        assert va.shape == state[kb].shape, f"pyronas {ka} {list(va.shape)} vs xautodl {kb} {list(state[kb].shape)}"
        state[kb] = va.clone()
    theirs.load_state_dict(state)
    return len(keys)


def conv_biases(module: nn.Module) -> dict[str, nn.Parameter]:
    """xautodl's conv biases before ``affine=False`` BatchNorm (``bias=not affine``), which pyronas omits."""
    return {
        f"{name}.bias": m.bias for name, m in module.named_modules() if isinstance(m, nn.Conv2d) and m.bias is not None
    }


def batch(seed: int, size: int = 2) -> torch.Tensor:
    return torch.randn(size, 3, 32, 32, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def assert_same(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.abs().max() > 1e-3  # a network of all-zero outputs would match trivially
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)


# --- NB201 standalone network vs xautodl TinyNetwork -------------------------------------------------


def tiny_network(cell: str, channels: int, cells_per_stage: int) -> TinyNetwork:
    return TinyNetwork(channels, cells_per_stage, Structure.str2structure(cell), 10)


@pytest.mark.parametrize("cell", CELLS)
def test_nb201_network_parameter_count(cell):
    assert count(NB201Network(cell)) == count(tiny_network(cell, 16, 5))  # C=16, N=5 as in the benchmark


@pytest.mark.parametrize("cell", CELLS[:5])
def test_nb201_network_logits(cell):
    ours = randomise(NB201Network(cell, channels=8, cells_per_stage=1), seed=1).double()
    theirs = tiny_network(cell, 8, 1).double()
    copy_state(ours, theirs)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        assert_same(ours(batch(0)), theirs(batch(0))[1])
    ours.train(), theirs.train()  # batch statistics, and the running averages they update
    with torch.no_grad():
        assert_same(ours(batch(1, 4)), theirs(batch(1, 4))[1])
    for (ka, va), vb in zip(ours.state_dict().items(), theirs.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=1e-9, atol=1e-9, msg=ka)


# --- NB201 supernet vs xautodl TinyNetworkDarts (the DARTS-V1 search model) ---------------------------


def darts_v1_supernet(channels: int, cells_per_stage: int) -> TinyNetworkDarts:
    assert tuple(NAS_BENCH_201) == OPS, "xautodl's NB201 op order differs from pyronas's"
    return TinyNetworkDarts(channels, cells_per_stage, 4, 10, NAS_BENCH_201, False, True)


def test_nb201_supernet_parameter_count():
    theirs = darts_v1_supernet(16, 5)
    redundant = conv_biases(theirs).values()
    assert count(theirs, skip=[theirs.arch_parameters]) > count(theirs, skip=[theirs.arch_parameters, *redundant])
    assert count(NB201Supernet(16, 5)) == count(theirs, skip=[theirs.arch_parameters, *redundant])


def mixing_weights(kind: str, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if kind == "one_hot":
        ops = torch.randint(len(OPS), (6,), generator=gen)
        return nn.functional.one_hot(ops, len(OPS)).double()
    return torch.distributions.Dirichlet(torch.ones(6, len(OPS), dtype=torch.float64)).sample()


def supernet_pair(seed: int) -> tuple[NB201Supernet, TinyNetworkDarts, dict[str, nn.Parameter]]:
    ours = randomise(NB201Supernet(8, 1), seed).double()
    theirs = randomise(darts_v1_supernet(8, 1), seed + 1).double()  # random conv biases, the rest overwritten:
    biases = conv_biases(theirs)
    copy_state(ours, theirs, extra=[*biases, "arch_parameters"])
    return ours, theirs, biases


def xautodl_logits(net: TinyNetworkDarts, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """xautodl's own forward, whose mixing weights are ``softmax(arch_parameters)``: ``log w`` gives ``w``."""
    with torch.no_grad():
        net.arch_parameters.copy_(weights.log())
        return net(x)[1]


@pytest.mark.parametrize("kind, seed", [("one_hot", 0), ("one_hot", 1), ("soft", 2), ("soft", 3)])
def test_nb201_supernet_logits(kind, seed):
    torch.manual_seed(seed)
    weights = mixing_weights(kind, seed)
    ours, theirs, biases = supernet_pair(seed)
    # Training mode: BatchNorm's batch statistics cancel xautodl's conv biases exactly, whatever their value.
    ours.train(), theirs.train()
    with torch.no_grad():
        assert_same(ours(batch(seed, 4), weights), xautodl_logits(theirs, weights, batch(seed, 4)))
    # Evaluation mode (running statistics): equal once the redundant biases are zero.
    ours, theirs, biases = supernet_pair(seed)
    with torch.no_grad():
        for bias in biases.values():
            bias.zero_()
    ours.eval(), theirs.eval()
    with torch.no_grad():
        assert_same(ours(batch(seed + 10), weights), xautodl_logits(theirs, weights, batch(seed + 10)))


# --- DARTS evaluation network vs xautodl's DARTS CIFAR network ---------------------------------------


def xautodl_genotype(genotype: Genotype) -> XGenotype:
    def nodes(pairs):
        return [tuple(pairs[2 * i : 2 * i + 2]) for i in range(NUM_NODES)]

    concat = list(genotype.normal_concat)
    return XGenotype(nodes(genotype.normal), concat, nodes(genotype.reduce), concat, None, None)


def cifar_network(name: str, channels: int, cells_per_stage: int, auxiliary: bool) -> NetworkCIFAR:
    with contextlib.redirect_stdout(io.StringIO()):  # xautodl's InferCell prints its channels
        return NetworkCIFAR(channels, cells_per_stage, 3, auxiliary, xautodl_genotype(GENOTYPES[name]), 10)


@pytest.mark.parametrize("name", NAMES)
def test_darts_network_parameter_count(name):
    ours = DARTSNetwork(GENOTYPES[name], channels=36, cells_per_stage=6, auxiliary=True)  # 20 cells, C=36
    theirs = cifar_network(name, 36, 6, auxiliary=True)
    assert len(ours.cells) == len(theirs.cells) == 20
    assert count(ours) == count(theirs)
    assert count(ours, skip=ours.auxiliary_head.parameters()) == count(theirs, skip=theirs.auxiliary_param())


@pytest.mark.parametrize("name", NAMES)
def test_darts_network_logits(name):
    ours = randomise(DARTSNetwork(GENOTYPES[name], channels=8, cells_per_stage=1, auxiliary=True), seed=2).double()
    theirs = cifar_network(name, 8, 1, auxiliary=True).double()
    copy_state(ours, theirs)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        assert_same(ours(batch(3)), theirs(batch(3))[1])
    ours.train(), theirs.train()  # batch statistics, and the auxiliary head on the 8x8 maps
    with torch.no_grad():
        (logits, aux), (xlogits, xaux) = ours(batch(4)), theirs(batch(4))[1]
    assert_same(logits, xlogits)
    assert_same(aux, xaux)
