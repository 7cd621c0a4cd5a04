import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from pyronas.infer import kl_weight


def _log_prob(weight):
    def model():
        with kl_weight(weight):
            pyro.sample("z", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))

    return poutine.trace(model).get_trace().log_prob_sum()


@pytest.mark.parametrize("weight", [0.0, 0.1, 1.0, 3.0])
def test_kl_weight_scales_or_masks(weight):
    assert torch.allclose(_log_prob(weight), weight * dist.Normal(0.0, 1.0).log_prob(torch.tensor(0.5)))


def test_negative_kl_weight_rejected():
    with pytest.raises(ValueError):
        kl_weight(-1.0)
