"""The found network, standalone: scriptable/traceable/exportable networks, inherited weights, BN recalibration."""

import itertools
import subprocess
import sys
import warnings

import pytest
import torch

import pyronas
from pyronas.api import search
from pyronas.data import Batches, load_dataset, split_halves
from pyronas.nn.export import inherit, load_inherited, pyronas_modules, recalibrate_bn, torch_only
from pyronas.select import supernet_accuracy
from pyronas.spaces import get_space

CELLS = {
    "nb201": "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|",
    "darts": "DARTS_V2",  # pools in the reduction cell, a strided skip (FactorizedReduce)
}
POOL_FREE = (  # a DARTS cell without pools: the standalone network then computes the supernet's one-hot function
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_3x3', 0), ('sep_conv_5x5', 2), "
    "('skip_connect', 0), ('dil_conv_5x5', 3), ('sep_conv_3x3', 1), ('skip_connect', 4)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('skip_connect', 0), ('sep_conv_3x3', 1), ('dil_conv_3x3', 2), ('skip_connect', 1), "
    "('sep_conv_5x5', 0), ('dil_conv_5x5', 3), ('skip_connect', 2), ('sep_conv_3x3', 4)], reduce_concat=[2, 3, 4, 5])"
)


def small_network(space: str) -> torch.nn.Module:
    s = get_space(space)
    return s.network(s.validate(CELLS[space]), channels=8, cells_per_stage=1, num_classes=5).eval()


def trained_supernet(space: str) -> torch.nn.Module:
    """A small supernet whose BatchNorm statistics come from a few mixed-weight forwards (not the cell's)."""
    s = get_space(space)
    supernet = s.supernet(channels=8, cells_per_stage=1, num_classes=5, in_channels=1)
    with torch.no_grad():
        for _ in range(3):
            supernet(torch.randn(8, 1, 16, 16), {cell: torch.rand(*shape) for cell, shape in s.arch_shape.items()})
    return supernet.eval()


@pytest.mark.parametrize("space", ["nb201", "darts"])
@pytest.mark.parametrize("plain", [False, True], ids=["space-class", "torch-only"])
def test_networks_script_trace_and_export_to_the_same_logits(space, plain):
    net = small_network(space)
    net = torch_only(net) if plain else net
    x = torch.randn(2, 3, 16, 16)
    expected = net(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        assert torch.equal(torch.jit.script(net)(x), expected)
        assert torch.equal(torch.jit.trace(net, x)(x), expected)
    assert torch.equal(torch.export.export(net, (x,)).module()(x), expected)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_torch_only_networks_hold_no_pyronas_module(space):
    net = small_network(space)
    assert pyronas_modules(net)  # the space's classes
    plain = torch_only(net)
    assert pyronas_modules(plain) == {}
    assert {type(m).__module__.split(".")[0] for m in plain.modules()} == {"torch"}
    assert plain.state_dict().keys() == net.state_dict().keys()


def test_torch_only_networks_load_without_pyronas(tmp_path):
    for space in CELLS:
        net, x = torch_only(small_network(space)), torch.randn(2, 3, 16, 16)
        torch.save({"net": net, "x": x, "y": net(x)}, tmp_path / f"{space}.pt")
    code = (
        "import sys, torch; sys.modules['pyronas'] = None\n"  # any import of pyronas fails
        f"for name in {list(CELLS)}:\n"
        f"    saved = torch.load('{tmp_path}/' + name + '.pt', weights_only=False)\n"
        "    assert torch.equal(saved['net'](saved['x']), saved['y'])\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


@pytest.mark.parametrize("space, cell", [("nb201", CELLS["nb201"]), ("darts", POOL_FREE)])
def test_inherited_network_computes_the_supernet_restricted_to_its_cell(space, cell):
    """In eval mode with the supernet's statistics: one-hot mixing multiplies by 1 and adds exact zeros, and
    affine weight 1 / bias 0 leave a BatchNorm unchanged, so the logits agree bit for bit."""
    s, supernet = get_space(space), trained_supernet(space)
    net = inherit(s, supernet, cell)
    assert not net.training
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x), supernet(x, s.one_hot(cell)))
        assert torch.equal(torch_only(net)(x), supernet(x, s.one_hot(cell)))


def test_darts_pools_lose_the_supernet_batchnorm():
    """The supernet normalises each pool's output (affine=False BN); the standalone DARTS pools carry none."""
    s, supernet = get_space("darts"), trained_supernet("darts")
    cell = s.validate(CELLS["darts"])
    net = inherit(s, supernet, cell)
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(net(x), supernet(x, s.one_hot(cell)))


def test_inherited_weights_are_the_chosen_ops_and_affine_norms_are_identity():
    s, supernet = get_space("nb201"), trained_supernet("nb201")
    net = inherit(s, supernet, CELLS["nb201"])  # edge 0: nor_conv_3x3 (op 3)
    state, ours = supernet.state_dict(), net.state_dict()
    assert torch.equal(ours["cells.0.edges.0.1.weight"], state["cells.0.edges.0.ops.3.1.weight"])
    assert torch.equal(ours["cells.0.edges.0.2.running_var"], state["cells.0.edges.0.ops.3.2.running_var"])
    assert torch.equal(ours["cells.0.edges.0.2.weight"], torch.ones(8))
    assert torch.equal(ours["cells.0.edges.0.2.bias"], torch.zeros(8))
    assert torch.equal(ours["classifier.weight"], state["classifier.weight"])


def test_inheriting_refuses_mismatched_supernets():
    s = get_space("nb201")
    partial = s.supernet(channels=8, cells_per_stage=1, num_classes=5)
    partial.set_partial_channels(2)
    with pytest.raises(ValueError, match="partial_channels=2"):
        inherit(s, partial, CELLS["nb201"])
    net = s.network(CELLS["nb201"], channels=16, cells_per_stage=1, num_classes=5)
    with pytest.raises(ValueError, match="shape"):
        load_inherited(net, trained_supernet("nb201").state_dict(), lambda key: key)


def test_recalibrate_bn_takes_the_plain_average_and_restores_momenta():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 1), torch.nn.BatchNorm2d(3))
    batches = [(torch.randn(4, 1, 5, 5) + i, torch.zeros(4)) for i in range(3)]
    recalibrate_bn(net, batches, num_batches=2)
    with torch.no_grad():
        means = torch.stack([net[0](x).mean((0, 2, 3)) for x, _ in batches[:2]])
    assert not net.training and net[1].momentum == 0.1
    torch.testing.assert_close(net[1].running_mean, means.mean(0))
    assert int(net[1].num_batches_tracked) == 2


@pytest.fixture(scope="module")
def digits_search(tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    return search("drnas", dataset="digits", epochs=3, out_dir=str(out), progress=False), out


def accuracy(net: torch.nn.Module, batches) -> float:
    with torch.no_grad():
        correct = sum(int((net(x).argmax(-1) == y).sum()) for x, y in batches)
    return 100.0 * correct / sum(len(y) for _, y in batches)


def test_found_network_classifies_like_the_supernet_restricted_to_its_cell(digits_search, capsys):
    """The exported NB201 network with inherited weights, BatchNorm recalibrated on the training half, classifies
    the architecture half within 2 points of the supernet evaluated with the cell's one-hot weights."""
    result, out = digits_search
    c, space = result.config, get_space("nb201")
    weights_half, arch_half = split_halves(load_dataset("digits"), size=c["train_size"])
    train = Batches(weights_half, c["batch_size"], seed=c["seed"])
    valid = list(Batches(arch_half, c["batch_size"], augment=False, seed=c["seed"], mean=train.mean, std=train.std))
    calibration = list(itertools.islice(Batches(weights_half, c["batch_size"], augment=False, seed=c["seed"]), 20))
    one_hot = space.one_hot(result.genotype)

    supernet_acc, _ = supernet_accuracy(result.supernet, one_hot, valid, calibration)
    exported = result.network()
    exported_acc = accuracy(exported, valid)
    stale = result.network(calibration=0)  # the supernet's statistics, gathered under mixed weights
    result.supernet.eval()
    with torch.no_grad():
        for x, _ in valid[:2]:
            assert torch.equal(stale(x), result.supernet(x, one_hot))
    with capsys.disabled():
        print(f"\n{result.genotype}: supernet one-hot (BN recalibrated) {supernet_acc:.2f} %, exported + recalibrated "
              f"{exported_acc:.2f} %, exported before recalibration {accuracy(stale, valid):.2f} %")  # fmt: skip
    assert pyronas_modules(exported) == {} and not exported.training
    assert abs(exported_acc - supernet_acc) <= 2.0

    reloaded = pyronas.load_run(out).network()  # from the folder: the checkpoint's supernet
    assert exported.state_dict().keys() == reloaded.state_dict().keys()
    for key, value in exported.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[key], value, msg=key)
    assert accuracy(reloaded, valid) == exported_acc


def test_found_network_fresh_or_in_the_space_class(digits_search):
    result, out = digits_search
    fresh = pyronas.load_run(out).network(inherit_weights=False, plain=False)
    assert type(fresh).__name__ == "NB201Network" and fresh.cell == result.genotype
    inherited = result.network(plain=False)
    assert not torch.equal(fresh.classifier.weight, inherited.classifier.weight)
    assert torch.equal(inherited.classifier.weight, result.supernet.classifier.weight.detach())
