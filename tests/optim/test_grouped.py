import copy

import pyro
import pytest
import torch

from pyronas.optim import GroupedOptim, arch_adam, weight_sgd


def _params():
    a = pyro.param("a", torch.tensor([3.0, 4.0]))
    b = pyro.param("b", torch.tensor([0.0]))
    return pyro.get_param_store()._params["a"], pyro.get_param_store()._params["b"], a, b


def test_global_clip_norm_scales_all_gradients_together():
    ua, ub, _, _ = _params()
    opt = GroupedOptim(torch.optim.SGD, {"lr": 1.0}, clip_norm=1.0)
    ua.grad = torch.tensor([3.0, 0.0])
    ub.grad = torch.tensor([4.0])
    opt([ua, ub])
    assert torch.allclose(ua.detach(), torch.tensor([3.0 - 0.6, 4.0]))
    assert torch.allclose(ub.detach(), torch.tensor([-0.8]))


def test_cosine_schedule_and_lr():
    ua, ub, _, _ = _params()
    opt = weight_sgd(epochs=4, lr=0.1, lr_min=0.0)
    ua.grad, ub.grad = torch.zeros(2), torch.zeros(1)
    opt([ua, ub])
    lrs = []
    for _ in range(4):
        lrs.append(opt.lr)
        opt.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[2] == pytest.approx(0.05) and opt.lr == pytest.approx(0.0, abs=1e-12)


def test_state_round_trip_by_name():
    ua, ub, _, _ = _params()
    opt = arch_adam(lr=0.1)
    for _ in range(3):
        ua.grad, ub.grad = torch.ones(2), torch.ones(1)
        opt([ub, ua])
    state = copy.deepcopy(opt.get_state())  # as after torch.save + torch.load
    assert state["names"] == ["a", "b"]
    fresh = arch_adam(lr=0.1)
    fresh.set_state(state)
    before = ua.detach().clone()
    ua.grad, ub.grad = torch.ones(2), torch.ones(1)
    fresh([ua, ub])
    restored_step = ua.detach() - before
    ua.data.copy_(before)
    ua.grad, ub.grad = torch.ones(2), torch.ones(1)
    opt([ua, ub])
    assert torch.allclose(ua.detach() - before, restored_step)
    assert fresh.optimizer.state_dict()["state"][0]["step"] == 4


def test_a_step_does_not_depend_on_the_order_of_the_parameters():
    """SVI hands parameters over as a set, ordered by memory address; the clipped step must not change with it."""
    generator = torch.Generator().manual_seed(0)
    values = [torch.randn(n, generator=generator) for n in range(1, 80)]
    grads = [1e3 * torch.randn(n, generator=generator) for n in range(1, 80)]  # large: clipping is active
    orders = [list(range(len(values))), list(reversed(range(len(values)))), torch.randperm(len(values)).tolist()]
    results = []
    for order in orders:
        pyro.clear_param_store()
        params = [pyro.param(f"w{i:02d}", v.clone()).unconstrained() for i, v in enumerate(values)]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optim = weight_sgd(1, clip_norm=5.0)
        optim([params[i] for i in order])
        results.append(torch.cat([p.detach().reshape(-1) for p in params]))
    assert all(torch.equal(results[0], r) for r in results[1:])


def test_clip_also_counts_other_gradients_in_the_norm_without_stepping_them():
    ua, ub, _, _ = _params()
    opt = GroupedOptim(torch.optim.SGD, {"lr": 1.0}, clip_norm=1.0)
    ua.grad = torch.tensor([3.0, 0.0])
    ub.grad = torch.tensor([4.0])  # counted in the norm (5), not stepped
    opt([ua], clip_also=[ub])
    assert torch.allclose(ua.detach(), torch.tensor([3.0 - 0.6, 4.0]))
    assert torch.allclose(ub.detach(), torch.tensor([0.0]))


def test_nesterov_changes_the_second_sgd_step():
    def two_steps(nesterov):
        p = torch.nn.Parameter(torch.tensor([1.0]))
        opt = weight_sgd(10, lr=0.1, weight_decay=0.0, clip_norm=None, nesterov=nesterov)
        for _ in range(2):
            p.grad = torch.tensor([1.0])
            opt([p])
        return float(p.detach())

    assert two_steps(False) == pytest.approx(1.0 - 0.1 - 0.1 * 1.9)  # buffer 1, then 1.9
    assert two_steps(True) == pytest.approx(1.0 - 0.1 * 1.9 - 0.1 * (1 + 0.9 * 1.9))
