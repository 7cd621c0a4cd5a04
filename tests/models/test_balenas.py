import json

import pyro
import pytest
import torch
from pyro import poutine

from pyronas.api import arch_optimizer, search
from pyronas.cli import main
from pyronas.data import Batches, load_digits, split_halves
from pyronas.infer import BilevelSVI
from pyronas.optim import NGVI, weight_sgd
from pyronas.registry import get_method
from pyronas.spaces import get_space

TINY = dict(dataset="digits", train_size=64, batch_size=32, channels=4, cells_per_stage=1, progress=False)


def _build(**options):
    space = get_space("nb201")
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    model, guide = get_method("balenas").build(supernet, space, **options)
    return space, supernet, model, guide


def test_guide_samples_the_model_sites_and_reports_softmax_of_loc():
    space, _, model, guide = _build()
    trace = poutine.trace(guide).get_trace()
    weights = poutine.replay(model.arch, trace=trace)()
    model_trace = poutine.trace(poutine.replay(model.arch, trace=trace)).get_trace()
    assert [n for n in trace.stochastic_nodes] == [n for n in model_trace.stochastic_nodes] == ["arch.cell.logits"]
    assert weights["cell"].shape == space.arch_shape["cell"]
    assert torch.allclose(weights["cell"].sum(-1), torch.ones(space.arch_shape["cell"][0]))
    assert torch.equal(weights["cell"], trace.nodes["arch.cell.logits"]["value"].softmax(-1))
    assert torch.allclose(guide.op_probabilities()["cell"], guide.locs.cell.detach().softmax(-1))
    assert sorted(pyro.get_param_store()) == ["arch.locs.cell", "arch.scales.cell"]


def test_prior_is_normal_with_the_given_precision():
    _, _, model, _ = _build(prior_precision=4.0)
    trace = poutine.trace(model.arch).get_trace()
    prior = trace.nodes["arch.cell.logits"]["fn"]
    assert torch.allclose(prior.base_dist.scale, torch.tensor(0.5))
    assert torch.equal(prior.base_dist.loc, torch.zeros(6, 5))


def test_ngvi_arch_step_writes_the_scale_from_its_precision():
    space, supernet, model, guide = _build(kl_weight=0.01)
    optim = arch_optimizer("ngvi", 0.01, 0.0, model)
    assert isinstance(optim, NGVI) and optim.pt_optim_args["num_data"] == pytest.approx(100.0)
    svi = BilevelSVI(model, guide, supernet, weight_sgd(1), optim)
    x, y = next(iter(Batches(split_halves(load_digits(), size=32)[1], 32)))
    loc0 = guide.locs.cell.detach().clone()
    for _ in range(3):
        svi.step_arch(x, y)
    state = optim.optimizer.state[pyro.get_param_store()._params["arch.locs.cell"]]
    assert not torch.equal(guide.locs.cell.detach(), loc0)
    expected = (100.0 * state["exp_avg_curv"]).rsqrt()  # prior_precision 0: the prior is in the ELBO
    assert torch.allclose(guide.scales.cell.detach(), expected, rtol=1e-4)
    assert all(p.grad is None for p in supernet.parameters())


def test_protocol_defaults_to_ngvi_and_adam_can_be_chosen(tmp_path):
    assert get_method("balenas").protocol["arch_optim"] == "ngvi"
    ngvi = search("balenas", epochs=1, **TINY)
    assert ngvi.config["arch_optim"] == "ngvi" and ngvi.config["arch_lr"] == 0.01
    code = main(
        ["search", "--quiet", "--method", "balenas", "--optim", "adam", "--dataset", "digits", "--epochs", "1"]
        + ["--train-size", "64", "--batch-size", "32", "--channels", "4", "--cells-per-stage", "1"]
        + ["--out", str(tmp_path)]
    )
    assert code == 0
    config = json.loads((tmp_path / "result.json").read_text())["config"]
    # Adam's generic 3e-4, rescaled by the digits demo (pyronas.config.DATASET_DEFAULTS) to 0.04
    assert config["arch_optim"] == "adam" and config["arch_lr"] == 0.04


def test_ngvi_on_a_non_gaussian_guide_is_a_clear_error():
    with pytest.raises(ValueError, match="'arch.cell_logits' is neither a Gaussian location"):
        search("darts", epochs=1, arch_optim="ngvi", **TINY)
    with pytest.raises(ValueError, match="unknown architecture optimizer 'sgd'"):
        search("darts", epochs=1, arch_optim="sgd", **TINY)
