import json

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyronas.api import search
from pyronas.cli import parse_args
from pyronas.data import Batches, load_digits, split_halves
from pyronas.distributions import MaskedDirichlet
from pyronas.infer import BilevelSVI, Search
from pyronas.infer.pruning import top_k_keep
from pyronas.infer.stages import Stage, enter_stage, scale_stages
from pyronas.nn.partial import widen_tensor
from pyronas.optim import arch_adam, weight_sgd
from pyronas.registry import get_method
from pyronas.select import sample_cells
from pyronas.spaces import get_space

TINY = dict(dataset="digits", train_size=128, channels=8, cells_per_stage=1, arch_lr=0.05, progress=False)
KEEP = torch.tensor([[True, True, True, False, False]] * 3 + [[False, True, False, True, True]] * 3)


def test_masked_dirichlet_is_the_dirichlet_of_the_kept_ops():
    alpha = torch.tensor([[0.5, 2.0, 3.0, 1.5], [1.0, 1.0, 4.0, 2.0]], requires_grad=True)
    keep = torch.tensor([[True, False, True, True], [False, True, True, False]])
    d = MaskedDirichlet(alpha, keep)
    w = d.rsample((200,))
    assert torch.equal(w[..., ~keep], torch.zeros_like(w[..., ~keep]))
    assert torch.allclose(w.sum(-1), torch.ones(200, 2))
    value = w[0]
    for e in range(2):
        face = dist.Dirichlet(alpha[e][keep[e]])
        assert torch.allclose(d.log_prob(value)[e], face.log_prob(value[e][keep[e]]), atol=1e-5)
        assert torch.allclose(d.mean[e][keep[e]], face.mean)
    beta = torch.tensor([[1.0, 1.0, 2.0, 1.0], [3.0, 2.0, 1.0, 1.0]])
    kl = torch.distributions.kl_divergence(d, MaskedDirichlet(beta, keep))
    for e in range(2):
        face = torch.distributions.kl_divergence(dist.Dirichlet(alpha[e][keep[e]]), dist.Dirichlet(beta[e][keep[e]]))
        assert torch.allclose(kl[e], face, atol=1e-6)
    d.rsample().pow(2).sum().backward()  # pathwise gradients reach the kept concentrations only
    assert torch.equal(alpha.grad[~keep], torch.zeros_like(alpha.grad[~keep])) and alpha.grad[keep].abs().sum() > 0


def test_pruned_guide_never_picks_a_pruned_op():
    space = get_space("nb201")
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    model, guide = get_method("drnas").build(supernet, space, kl_weight=1.0)
    with torch.no_grad():
        guide.cell_theta.copy_(torch.linspace(2.0, -2.0, 5).expand(6, 5))  # op 0 is the most probable
    for part in (supernet, model, guide):
        part.prune({"cell": KEEP})
    probs = guide.op_probabilities()["cell"]
    assert torch.equal(probs[~KEEP], torch.zeros_like(probs[~KEEP]))
    assert torch.allclose(probs.sum(-1), torch.ones(6))
    assert space.derive({"cell": probs}) == "|none~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    cells = sample_cells(model, guide, space, 30)
    allowed = [{space.ops[k] for k in range(5) if KEEP[e, k]} for e in range(6)]
    for cell in cells:
        ops = [part.split("~")[0] for node in cell.strip("|").split("|+|") for part in node.split("|")]
        assert all(op in allowed[e] for e, op in enumerate(ops))
    x, y = next(iter(Batches(split_halves(load_digits(), size=16)[0], 16)))
    loss = Trace_ELBO().differentiable_loss(model, guide, x, y)
    assert torch.isfinite(loss)
    state = guide.state_dict()
    assert torch.equal(state["op_mask.cell"], KEEP)  # the mask travels with checkpoints


def test_top_k_keep_never_revives_pruned_ops():
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2, 0.0]])
    assert top_k_keep({"c": probs}, 2)["c"].tolist() == [[True, False, True, False, False]]
    assert top_k_keep({"c": probs}, 4)["c"].tolist() == [[True, False, True, True, False]]


def test_scale_stages_follows_epochs():
    protocol = get_method("drnas").protocol["stages"]
    assert [(s.epochs, s.warmup_epochs) for s in scale_stages(protocol, None)] == [(50, 10), (50, 10)]
    assert [(s.epochs, s.warmup_epochs) for s in scale_stages(protocol, 20)] == [(10, 2), (10, 2)]
    assert sum(s.epochs for s in scale_stages(protocol, 7)) == 7
    assert [s.warmup_epochs for s in scale_stages(protocol, 4, warmup_epochs=1)] == [1, 1]
    assert [s.keep_ops for s in scale_stages(protocol, 4)] == [None, 3]
    with pytest.raises(ValueError, match="cannot hold 2 stages"):
        scale_stages(protocol, 1)
    with pytest.raises(ValueError, match="epochs >= 1"):
        Stage(epochs=0)
    with pytest.raises(ValueError, match="unknown stage field"):
        scale_stages([{"epochs": 2, "keep": 3}], None)


def _svi_after_one_weight_step(method="drnas"):
    space = get_space("nb201")
    supernet = space.supernet(channels=8, cells_per_stage=1, num_classes=10, in_channels=1)
    model, guide = get_method(method).build(supernet, space)
    svi = BilevelSVI(model, guide, supernet, weight_sgd(4), arch_adam())
    x, y = next(iter(Batches(split_halves(load_digits(), size=32)[0], 32)))
    enter_stage(Stage(1, partial_channels=4), supernet, model, guide, svi.weight_optim)
    svi.step_arch(x, y)
    svi.step_weights(x, y)
    return space, supernet, model, guide, svi, (x, y)


def test_widening_keeps_momentum_and_leaves_no_stale_parameters():
    space, supernet, model, guide, svi, (x, y) = _svi_after_one_weight_step()
    name = "cells.0.edges.1.ops.3.1.weight"  # conv 3x3 of edge 1
    old_param = dict(supernet.named_parameters())[name]
    old_momentum = svi.weight_optim.optimizer.state[old_param]["momentum_buffer"].clone()
    stage = Stage(1, partial_channels=2, keep_ops=3)
    keep = {"cell": torch.tensor([[False, True, True, True, False]] * 6)}
    enter_stage(stage, supernet, model, guide, svi.weight_optim, keep)
    pending = svi.weight_optim.get_state()
    index = pending["names"].index(f"supernet$$${name}")
    assert torch.equal(pending["optimizer"]["state"][index]["momentum_buffer"], widen_tensor(old_momentum, 2))
    assert not any(".ops.4." in n or ".ops.0." in n for n in pending["names"]), "pruned ops left the optimizer"
    svi.step_weights(x, y)
    store = {n: p for n, p in pyro.get_param_store().items() if n.startswith("supernet$$$")}
    params = dict(supernet.named_parameters())
    assert set(store) == {f"supernet$$${n}" for n in params}
    assert all(store[f"supernet$$${n}"] is p for n, p in params.items())
    optimized = [p for group in svi.weight_optim.optimizer.param_groups for p in group["params"]]
    assert {id(p) for p in optimized} == {id(p) for p in params.values()}
    assert params[name].shape == (4, 4, 3, 3) and "momentum_buffer" in svi.weight_optim.optimizer.state[params[name]]


def test_pruning_needs_a_method_that_can_prune():
    space, supernet, model, guide, svi, _ = _svi_after_one_weight_step("darts")
    with pytest.raises(TypeError, match="cannot prune ops"):
        enter_stage(Stage(1, keep_ops=3), supernet, model, guide, svi.weight_optim)


def test_progressive_needs_a_schedule_and_excludes_other_stage_options():
    with pytest.raises(ValueError, match="no progressive schedule"):
        search("darts", progressive=True, **TINY)
    with pytest.raises(ValueError, match="only one of"):
        search("drnas", progressive=True, partial_channels=2, **TINY)
    settings = parse_args(["search", "--progressive", "--partial-channels", "2"]).settings
    assert settings["progressive"] and settings["partial_channels"] == 2


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    pyro.clear_param_store()
    result = search("drnas", progressive=True, epochs=4, out_dir=out, **TINY)
    return out, result


def test_two_stage_search_prunes_and_widens(uninterrupted):
    out, result = uninterrupted
    assert [r["stage"] for r in result.history] == [1, 1, 2, 2]
    assert [(s["epochs"], s["partial_channels"], s["keep_ops"]) for s in result.config["stages"]] == [
        (2, 4, None),
        (2, 2, 3),
    ]
    first, last = (torch.tensor(result.history[i]["op_probabilities"]["cell"]) for i in (1, 3))
    assert (first > 0).all()
    assert ((last == 0).sum(-1) == 2).all(), "each edge keeps exactly 3 ops"
    assert torch.equal(last > 0, top_k_keep({"cell": first}, 3)["cell"]), "pruned by the stage-1 probabilities"
    for edge, probs in zip(result.genotype.strip("|").replace("|+|", "|").split("|"), last):
        assert probs[get_space("nb201").ops.index(edge.split("~")[0])] > 0
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["stage"] == 1 and torch.equal(state["keeps"][1]["cell"], last > 0)
    convs = [v.shape for k, v in state["model"].items() if k.startswith("supernet.cells.0.edges.") and v.dim() == 4]
    assert convs and all(shape[:2] == (4, 4) for shape in convs), "first-stage ops widened to C / 2 = 4 channels"


@pytest.mark.parametrize("stop_after", [2, 3])  # at the stage boundary, and inside stage 2
def test_resume_across_the_stage_boundary_repeats_the_uninterrupted_search(uninterrupted, tmp_path, stop_after):
    full_dir, full = uninterrupted
    original = Search._epoch

    def interrupted(self):
        if self.epoch == stop_after:
            raise KeyboardInterrupt
        return original(self)

    Search._epoch = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            search("drnas", progressive=True, epochs=4, out_dir=tmp_path, **TINY)
    finally:
        Search._epoch = original
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["epoch"] == stop_after
    pyro.clear_param_store()
    resumed = search("drnas", progressive=True, epochs=4, out_dir=tmp_path, resume=True, **TINY)
    assert resumed.genotype == full.genotype
    assert resumed.op_probabilities == full.op_probabilities
    a = torch.load(full_dir / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
