"""Fixed width choices at their real widths: same function as the masked network, fewer parameters, refusals said."""

import itertools
import json
import warnings

import pytest
import torch
from torch import nn

from pyronas.nn import Choice, WidthChoice
from pyronas.nn.choice import decisions
from pyronas.nn.examples import choice_convnet
from pyronas.nn.export import pyronas_modules, torch_only
from pyronas.nn.narrow import narrow
from pyronas.spaces import ModuleSpace


def params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def randomised(net: nn.Module) -> nn.Module:
    """Float64, eval mode, BatchNorms with statistics and affine parameters far from the identity."""
    torch.manual_seed(0)
    net = net.double().eval()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -1, 1)
    return net


def fixed(width: int, channels: int = 8) -> WidthChoice:
    choice = WidthChoice(channels, [width, channels], label="width")
    choice.fix(str(width))
    return choice


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.width = nn.Conv2d(3, 8, 3, padding=1), fixed(3)
        self.body, self.head = nn.Conv2d(8, 8, 3, padding=1), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        x = self.width(self.stem(x))
        return self.head(self.body(x) + x)


HAND_MADE = {  # name: (network, input shape, parameters removed, report fragment)
    "conv-bn-relu-width-conv": (
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), fixed(5), nn.Conv2d(8, 4, 3, padding=1),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2),
        ),
        (2, 3, 6, 6), 3 * (27 + 1) + 3 * 2 + 3 * 4 * 9,
        "narrowed to 5 of 8 channels (0 outputs, 1 BatchNorm, 4 inputs)",
    ),
    "conv-width-pool-linear": (
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 3), fixed(2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)
        ),
        (2, 3, 6, 6), 6 * (27 + 1) + 6 * 3, "narrowed to 2 of 8 channels (0 outputs, 5 inputs)",
    ),
    "linear-width-linear": (
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.BatchNorm1d(8), fixed(4), nn.GELU(), nn.Linear(8, 2)),
        (2, 3, 2, 2), 4 * 13 + 4 * 2 + 4 * 2, "narrowed to 4 of 8 channels (1 outputs, 2 BatchNorm, 5 inputs)",
    ),
    "residual": (Residual, (2, 3, 6, 6), 0, "kept as a mask of 3 of 8 channels (consumer add at node add"),
    "batchnorm-after-the-mask": (
        lambda: nn.Sequential(nn.Conv2d(3, 8, 1), fixed(3), nn.BatchNorm2d(8), nn.Conv2d(8, 2, 1)),
        (2, 3, 4, 4), 0, "consumer 2 at node _2 is a BatchNorm after the mask",
    ),
    "grouped-consumer": (
        lambda: nn.Sequential(nn.Conv2d(3, 8, 1), fixed(4), nn.Conv2d(8, 8, 3, groups=8), nn.AdaptiveMaxPool2d(1)),
        (2, 3, 4, 4), 0, "consumer 2 at node _2 is a grouped convolution",
    ),
    "flattened-map": (
        lambda: nn.Sequential(nn.Conv2d(3, 8, 1), fixed(3), nn.Flatten(), nn.Linear(8 * 16, 2)),
        (2, 3, 4, 4), 0, "consumer 2 at node _2 flattens a spatial map",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_narrowed_network_computes_the_masked_one(name):
    build, shape, removed, reported = HAND_MADE[name]
    masked = randomised(build())
    before = params(masked)
    net = torch_only(masked)
    x = torch.randn(*shape, dtype=torch.float64)
    assert torch.allclose(net(x), masked(x), rtol=0, atol=1e-12)
    assert params(net) == before - removed
    assert params(masked) == before  # the masked network is not changed
    (line,) = net.narrowing_report
    assert line.startswith("width 'width': ") and reported in line
    assert pyronas_modules(net) == {}
    if removed:
        assert not any(isinstance(b, torch.Tensor) and b.dim() == 2 for b in net.buffers())  # no masks left


@pytest.mark.parametrize(
    "genotype",
    [dict(zip(("width", "kernel", "depth"), g)) for g in itertools.product(("8", "16"), ("conv1x1", "conv3x3",
                                                                           "conv5x5"), ("skip", "block"))],
    ids=lambda g: "-".join(g.values()),
)  # fmt: skip
def test_example_network_narrows_to_the_same_function(genotype):
    masked = randomised(choice_convnet())
    for label, decision in decisions(masked):
        decision.fix(genotype[label])
    net = torch_only(masked)
    x = torch.randn(3, 3, 10, 10, dtype=torch.float64)
    assert torch.allclose(net(x), masked(x), rtol=0, atol=1e-12)
    kernel = int(genotype["kernel"][4]) ** 2
    blocks = 16 * 16 * kernel + 2 * 16  # one conv-bn-relu block of the kernel choice
    full = 3 * 16 * 9 + 2 * 16 + 2 * blocks + (16 * 16 * 9 + 2 * 16 if genotype["depth"] == "block" else 0) + 170
    narrowed = 8 * (3 * 9 + 2 + 16 * kernel) if genotype["width"] == "8" else 0  # stem out, BN, block 1 in
    assert params(net) == full - narrowed
    assert net.narrowing_report == (["width 'width': narrowed to 8 of 16 channels (0 outputs, 1 BatchNorm, "
                                     f"4.candidates.{('conv1x1', 'conv3x3', 'conv5x5').index(genotype['kernel'])}.0 "
                                     "inputs)"] if genotype["width"] == "8" else [])  # fmt: skip


def test_space_network_counts_what_runs_and_export_inherits_it():
    space = ModuleSpace(choice_convnet)
    genotype = json.dumps({"width": "8", "kernel": "conv3x3", "depth": "skip"})
    net = space.network(genotype)
    assert params(net) == 3 * 8 * 9 + 2 * 8 + 8 * 16 * 9 + 2 * 16 + 16 * 16 * 9 + 2 * 16 + 170
    assert pyronas_modules(net) == {} and net.narrowing_report[0].startswith("width 'width': narrowed to 8")
    supernet = space.supernet()
    randomised(supernet)
    exported = space.export(supernet, genotype)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert params(exported) == params(net)
    assert torch.allclose(exported(x), supernet(x, {k: v.double() for k, v in space.one_hot(genotype).items()}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        assert torch.equal(torch.jit.script(exported)(x), exported(x))


class Branchy(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv, self.width = nn.Conv2d(in_channels, 8, 1), WidthChoice(8, [4, 8], label="width")
        self.act = Choice({"relu": nn.ReLU(), "tanh": nn.Tanh()}, label="act")
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))

    def forward(self, x):
        x = self.act(self.width(self.conv(x)))
        return self.head(x if x.sum() > 0 else -x)


def test_untraceable_network_is_the_fixed_one_with_a_one_line_warning():
    space = ModuleSpace(Branchy)
    with pytest.warns(UserWarning, match=r"^cannot trace Branchy with torch.fx \(TraceError: .*\); using") as w:
        net = space.network('{"width": "4", "act": "tanh"}')
    assert "\n" not in str(w[0].message)
    assert [m.fixed for _, m in decisions(net)] == ["4", "tanh"]
    assert net(torch.randn(2, 3, 4, 4)).shape == (2, 10)
    with pytest.raises(Exception):  # noqa: B017 - torch_only itself still raises what fx raises
        narrow(net)


def test_proxies_count_the_parameters_that_run():
    from pyronas.proxies import score

    space = ModuleSpace(choice_convnet)
    images, labels = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    counts = {
        width: score(json.dumps({"width": width, "kernel": "conv3x3", "depth": "skip"}), ["params"], images, labels,
                     space=space)["params"]
        for width in ("8", "16")
    }  # fmt: skip
    assert counts == {"8": 3778 / 1e6, "16": 5018 / 1e6}  # every candidate: 20,794
