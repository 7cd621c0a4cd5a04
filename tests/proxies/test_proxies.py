"""Zero-cost proxies: closed-form checks on tiny networks, undefined scores, seeding, registry."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyronas.proxies import PROXIES, proxy_names, score
from pyronas.proxies.activations import JACOB_COV_EPS, jacob_cov, nwot
from pyronas.proxies.fisher import fisher
from pyronas.proxies.saliency import grad_norm, grasp, snip
from pyronas.proxies.synflow import synflow

GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
EMPTY = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
SMALL = dict(channels=4, cells_per_stage=1, num_classes=10)


def _tiny_batch(n=8, c=3, hw=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, hw, hw, generator=g), torch.randint(0, 10, (n,), generator=g)


def _tiny_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)).double()


def test_registry_names_and_aliases():
    assert set(PROXIES) >= {"synflow", "nwot", "jacob_cov", "snip", "grad_norm", "grasp", "fisher", "params", "flops"}
    assert proxy_names("synflow, jacov,naswot") == ["synflow", "jacob_cov", "nwot"]
    with pytest.raises(ValueError, match="unknown proxy"):
        proxy_names("synflow,accuracy")


def test_every_proxy_is_finite_and_seeded_on_a_good_cell():
    x, y = _tiny_batch()
    a = score(GOOD, list(PROXIES), x, y, seed=3, **SMALL)
    b = score(GOOD, list(PROXIES), x, y, seed=3, **SMALL)
    c = score(GOOD, ["snip", "nwot"], x, y, seed=4, **SMALL)
    assert all(math.isfinite(v) for v in a.values()), a
    assert a == b
    assert c["snip"] != a["snip"]  # another initialisation


def test_a_cell_without_path_to_the_output_is_undefined_not_a_crash():
    x, y = _tiny_batch()
    s = score(EMPTY, list(PROXIES), x, y, **SMALL)
    assert math.isnan(s["nwot"]) and math.isnan(s["jacob_cov"])  # every image looks the same to the net
    assert s["synflow"] == 0.0 and s["snip"] == 0.0 and s["grad_norm"] == 0.0
    assert s["params"] > 0 and s["flops"] > 0


def test_proxies_leave_the_network_unchanged():
    x, y = _tiny_batch()
    net = _tiny_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for proxy in (synflow, snip, grad_norm, grasp, fisher, nwot, jacob_cov):
        proxy(net, x.double(), y)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_synflow_of_a_linear_map_is_the_path_sum():
    # one linear layer, no bias: R = sum_ij |W_ij| * 1, and |W * dR/dW| = |W| elementwise
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5, bias=False))
    x = torch.randn(2, 3, 2, 2)
    assert synflow(net, x) == pytest.approx(float(net[1].weight.detach().double().abs().sum()), rel=1e-12)


def test_grad_norm_and_snip_match_autograd():
    x, y = _tiny_batch()
    net = _tiny_net()
    loss = F.cross_entropy(net(x.double()), y)
    gw = torch.autograd.grad(loss, [net[0].weight, net[3].weight])
    assert grad_norm(net, x.double(), y) == pytest.approx(float(gw[0].norm() + gw[1].norm()), rel=1e-9)
    w0, w1 = net[0].weight.detach(), net[3].weight.detach()
    expected = float((w0 * gw[0]).abs().sum() + (w1 * gw[1]).abs().sum())
    assert snip(net, x.double(), y) == pytest.approx(expected, rel=1e-9)


def test_grasp_matches_a_finite_difference_hessian_product():
    x, y = _tiny_batch()
    x = x.double()
    net = _tiny_net()
    ws = [net[0].weight, net[3].weight]
    g = [t.detach() for t in torch.autograd.grad(F.cross_entropy(net(x), y), ws)]

    def grad_at(step):
        with torch.no_grad():
            for w, d in zip(ws, g):
                w.add_(step * d)
        out = torch.autograd.grad(F.cross_entropy(net(x), y), ws)
        with torch.no_grad():
            for w, d in zip(ws, g):
                w.sub_(step * d)
        return out

    eps = 1e-4
    hg = [(a - b) / (2 * eps) for a, b in zip(grad_at(eps), grad_at(-eps))]
    expected = -float(sum((w.detach() * h).sum() for w, h in zip(ws, hg)))
    assert grasp(net, x, y) == pytest.approx(expected, rel=1e-4)


def test_fisher_of_a_linear_classifier_in_closed_form():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5)).double()
    x, y = torch.randn(6, 3, 2, 2, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 4, 0])
    z = net(x).detach()
    dz = (z.softmax(-1) - F.one_hot(y, 5)) / len(y)  # d mean-CE / d logits
    expected = float(0.5 * (z * dz).pow(2).mean(0).sum() * 12)  # each output channel counted per weight
    assert fisher(net, x, y) == pytest.approx(expected, rel=1e-9)


def test_nwot_counts_agreeing_relu_codes():
    net = nn.Sequential(nn.Flatten(), nn.ReLU())
    x = torch.tensor([[1.0, -1, 2], [1, 1, -3], [-1, -1, -1]]).view(3, 1, 1, 3)
    codes = (x.view(3, 3) > 0).double()
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T  # [[3,2,1],[2,3,0],[1,0,3]]
    assert nwot(net, x) == pytest.approx(float(np.log(np.linalg.det(kernel.numpy()))), rel=1e-12)
    assert math.isnan(nwot(net, x[[0, 0, 1]]))  # two identical codes: singular kernel


def test_jacob_cov_of_identical_jacobians():
    # a linear map gives every image the same input gradient: correlation all ones, eigenvalues B, 0, ..., 0
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    b, k = 5, JACOB_COV_EPS
    expected = -((math.log(b + k) + 1 / (b + k)) + (b - 1) * (math.log(k) + 1 / k))
    assert jacob_cov(net, torch.randn(b, 3, 2, 2), None) == pytest.approx(expected, rel=1e-6)
