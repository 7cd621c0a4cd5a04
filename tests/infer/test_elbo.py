import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyronas.infer import BilevelSVI, DeviceTrace_ELBO, NotReparameterizedError
from pyronas.optim import arch_adam, weight_sgd
from pyronas.registry import get_method
from pyronas.spaces import get_space


def run_steps(method: str, loss, steps: int = 2, amp=None) -> tuple[list, dict]:
    pyro.clear_param_store()
    torch.manual_seed(0)
    space = get_space("nb201")
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    model, guide = get_method(method).build(supernet, space)
    svi = BilevelSVI(model, guide, supernet, weight_sgd(1), arch_adam(lr=0.01), loss, amp=amp)
    g = torch.Generator().manual_seed(1)
    images, labels = torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)
    pyro.set_rng_seed(2)
    losses = []
    for _ in range(steps):
        losses.append(svi.step_arch(images, labels)[0])
        losses.append(svi.step_weights(images, labels)[0])
    params = {k: v.detach().clone() for k, v in pyro.get_param_store().items()}
    return losses, params


@pytest.mark.parametrize("method", ["darts", "drnas", "balenas"])
def test_device_elbo_steps_equal_trace_elbo(method):
    reference, ref_params = run_steps(method, Trace_ELBO())
    losses, params = run_steps(method, DeviceTrace_ELBO())
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in losses)  # nothing read back to the host
    assert torch.allclose(torch.stack(losses).double(), torch.tensor(reference, dtype=torch.float64), atol=1e-5)
    assert ref_params.keys() == params.keys()
    for name, value in ref_params.items():
        assert torch.allclose(params[name], value, atol=1e-6), name


def test_device_elbo_refuses_non_reparameterized_guides():
    def model():
        pyro.sample("k", dist.Categorical(torch.ones(3) / 3))

    def guide():
        pyro.sample("k", dist.Categorical(pyro.param("p", torch.ones(3) / 3, constraint=dist.constraints.simplex)))

    with pytest.raises(NotReparameterizedError, match="'k'"):
        DeviceTrace_ELBO().tensor_loss(model, guide)


def test_autocast_bf16_step_runs_and_stays_close():
    reference, _ = run_steps("drnas", Trace_ELBO(), steps=1)
    losses, params = run_steps("drnas", Trace_ELBO(), steps=1, amp=torch.bfloat16)
    assert all(p.dtype == torch.float32 for p in params.values())  # parameters stay full precision
    assert abs(losses[0] - reference[0]) < 0.05 * abs(reference[0])
