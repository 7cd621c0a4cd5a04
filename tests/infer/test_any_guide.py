"""Any Pyro guide over a method's architecture sites: autoguides get the model's KL scaling, generic op
probabilities, a derived cell and diagnostics; a guide that misses a hook fails at build time in one line."""

import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.autoguide import AutoDelta, AutoLowRankMultivariateNormal, AutoNormal

from pyronas.api import search
from pyronas.build import build_search
from pyronas.diagnostics import from_runs
from pyronas.infer.contract import ContractError
from pyronas.optim import NGVI
from pyronas.registry import METHODS, MethodSpec, register
from pyronas.spaces import get_space

TINY = dict(dataset="digits", train_size=64, batch_size=32, channels=4, cells_per_stage=1, progress=False)


@pytest.mark.parametrize("guide", [AutoNormal, AutoDelta, AutoLowRankMultivariateNormal], ids=lambda g: g.__name__)
def test_autoguide_on_balenas_derives_a_cell(guide, tmp_path):
    result = search("balenas", guide=guide, arch_optim="adam", arch_lr=0.05, epochs=2, out_dir=tmp_path, **TINY)
    assert get_space("nb201").validate(result.genotype) == result.genotype
    probs = torch.tensor([list(p.values()) for p in result.op_probabilities["cell"].values()])
    assert torch.allclose(probs.sum(-1), torch.ones(6), atol=1e-4) and (probs - 0.2).abs().max() > 1e-3
    idata = from_runs([tmp_path], num_draws=10)  # lazily created parameters reload
    assert idata.posterior["weights"].shape[:2] == (1, 10)


def test_autoguide_sites_get_the_models_kl_weight():
    parts = build_search("balenas", guide=AutoNormal, epochs=1, **TINY)
    with parts.activate():
        trace = poutine.trace(parts.guide).get_trace()
    scales = {name: site["scale"] for name, site in trace.nodes.items() if site["type"] == "sample"}
    assert "arch.cell.logits" in scales and len(scales) == 2  # and AutoNormal's auxiliary site
    assert all(scale == pytest.approx(1e-3) for scale in scales.values()) and parts.model.kl_weight == 1e-3


def test_ngvi_takes_pyros_optim_args_and_fits_autonormal():
    def model():
        z = pyro.sample("z", pyro.distributions.Normal(torch.zeros(3), 1.0).to_event(1))
        pyro.sample("x", pyro.distributions.Normal(z, 1.0).to_event(1), obs=torch.full((3,), 2.0))

    guide = AutoNormal(model)
    svi = SVI(model, guide, NGVI({"lr": 0.5}), Trace_ELBO())
    for _ in range(300):
        svi.step()
    assert torch.allclose(guide.locs.z, torch.ones(3), atol=0.2)  # posterior mean of z ~ N(0, 1), x ~ N(z, 1) at x = 2
    with pytest.raises(ValueError, match="no option"):
        NGVI({"learning_rate": 0.1})


def test_search_with_autonormal_and_ngvi_object():
    result = search("balenas", guide=AutoNormal, arch_optim=NGVI({"lr": 0.01, "num_data": 1000}), epochs=1, **TINY)
    assert get_space("nb201").validate(result.genotype) == result.genotype


def test_a_guide_without_op_probabilities_fails_at_build_in_one_line():
    class NoProbabilities(torch.nn.Module):
        def __init__(self, space):
            super().__init__()

        def forward(self, images=None, labels=None):
            pass

    register(MethodSpec("broken", "pyronas.models.drnas:DrNASModel", NoProbabilities))
    try:
        with pytest.raises(ContractError, match=r"has no op_probabilities\(\)") as error:
            build_search("broken", epochs=1, **TINY)
        assert "\n" not in str(error.value)
    finally:
        del METHODS["broken"]


def test_guide_args_reach_the_autoguide():
    parts = build_search("balenas", guide="AutoNormal", guide_args={"init_scale": 0.05}, arch_optim="adam", **TINY)
    with parts.activate():
        assert torch.allclose(parts.guide.guide.scales.arch.cell.logits, torch.tensor(0.05))


@pytest.mark.parametrize(
    "guide, message",
    [
        ("AutoGuideList", r"AutoGuideList does not sample the model's site\(s\) arch.cell .*needs its parts"),
        ("AutoGuide", "AutoGuide is an abstract base and cannot serve"),
    ],
)
def test_a_guide_that_cannot_serve_is_refused_in_one_line(guide, message):
    with pytest.raises(ValueError, match=message) as info:
        build_search("drnas", guide=guide, epochs=1, **TINY)
    assert "\n" not in str(info.value) and "--guide AutoNormal" in str(info.value)


def test_ngvi_refuses_a_non_gaussian_guide_at_build_naming_adam():
    with pytest.raises(ValueError, match=r'--optim adam; Python: arch_optim="adam"') as info:
        build_search("balenas", guide=AutoDelta, epochs=1, **TINY)
    assert "\n" not in str(info.value)
