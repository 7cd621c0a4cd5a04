import json

import pyro
import pytest
import torch
from pyro import poutine

from pyronas.api import search
from pyronas.cli import main
from pyronas.compress import prune
from pyronas.data import Batches, load_digits, split_halves
from pyronas.infer import BilevelSVI
from pyronas.optim import arch_adam, weight_sgd
from pyronas.registry import get_method
from pyronas.spaces import SPACES, get_space

SPACE_NAMES = [name for name in ("nb201", "darts") if name in SPACES]
TINY = dict(dataset="digits", train_size=128, channels=4, cells_per_stage=1, progress=False)


def _build(space_name: str = "nb201", **options):
    space = get_space(space_name)
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    model, guide = get_method("bayesnas").build(supernet, space, **options)
    return space, supernet, model, guide


def _randomise_locs(guide, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for cell in guide.space.cell_types:
        for part in ("op", "edge"):
            shape = getattr(guide.locs, f"{cell}_{part}").shape
            setattr(guide.locs, f"{cell}_{part}", torch.randn(shape, generator=gen))


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_gates_have_the_space_shapes_and_multiply_into_the_weights(space_name):
    space, supernet, model, guide = _build(space_name)
    trace = poutine.trace(guide).get_trace()
    model_trace = poutine.trace(poutine.replay(model.arch, trace=trace)).get_trace()
    weights = model_trace.nodes["_RETURN"]["value"]
    expected = [f"arch.{cell}.{part}_gates" for cell in space.cell_types for part in ("edge", "op")]
    assert list(trace.stochastic_nodes) == list(model_trace.stochastic_nodes) == expected
    for cell, (edges, ops) in space.arch_shape.items():
        s_edge = trace.nodes[f"arch.{cell}.edge_gates"]["value"]
        s_op = trace.nodes[f"arch.{cell}.op_gates"]["value"]
        assert s_edge.shape == (edges,) and s_op.shape == (edges, ops)
        assert torch.equal(weights[cell], s_op * s_edge[:, None])
        assert torch.equal(guide.mean_weights()[cell][:, space.ops.index("none")], torch.zeros(edges))
        probs = guide.op_probabilities()[cell]
        assert probs.shape == (edges, ops) and torch.allclose(probs.sum(-1), torch.ones(edges))
    x = torch.randn(2, 1, 8, 8)
    assert supernet(x, weights).shape == (2, 10)
    assert all(name.startswith(("ard.", "arch.")) for name in pyro.get_param_store())


def test_ard_hierarchy_caps_op_variances_by_their_edge():
    _, _, model, _ = _build()
    model.ard.cell_op = torch.tensor([2.0, 0.5, 2.0, 2.0, 2.0]).expand(6, 5)
    model.ard.cell_edge = torch.tensor([1.0, 1.0, 1e-8, 1.0, 1.0, 1.0])
    prior = poutine.trace(model.arch).get_trace().nodes["arch.cell.op_gates"]["fn"]
    variance = prior.base_dist.scale.detach() ** 2
    assert variance[2].max() < 1e-8  # a cut edge cuts its ops: (1/gamma_op + 1/gamma_edge)^-1
    assert torch.allclose(variance[[0, 1, 3, 4, 5]], torch.tensor([2 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3]).expand(5, 5))


def test_a_cut_edge_collapses_its_gates_derives_none_and_is_pruned():
    space, supernet, model, guide = _build(kl_weight=1e-4)  # weak ARD pull: only the cut edge collapses
    model.ard.cell_edge = torch.tensor([1.0, 1.0, 1e-6, 1.0, 1.0, 1.0])  # cut edge 2<-1
    model.ard.requires_grad_(False)  # the prior held fixed: this tests what a cut edge does to gates and cell
    svi = BilevelSVI(model, guide, supernet, weight_sgd(1), arch_adam(lr=0.1, weight_decay=0.0))
    x, y = next(iter(Batches(split_halves(load_digits(), size=16)[1], 16)))
    for _ in range(12):
        svi.step_arch(x, y)
    relevance = guide.relevance()["cell"]
    assert relevance[2].max() < guide.threshold < relevance[[0, 1, 3, 4, 5]].max(-1).values.min()
    assert guide.op_probabilities()["cell"][2].argmax() == space.ops.index("none")
    assert space.derive(guide.op_probabilities()).split("+")[1].endswith("|none~1|")
    compressed = guide.compress()
    assert not compressed.masks["cell"][2].any() and compressed.masks["cell"][[0, 1, 3, 4, 5]].any(-1).all()
    assert compressed.counts()["cell"]["edges"] == 5
    assert torch.equal(compressed.weights["cell"][2], torch.zeros(5))


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_compression_is_monotone_in_the_threshold(space_name):
    space, _, _, guide = _build(space_name)
    _randomise_locs(guide)
    thresholds = [0.0, 0.05, 0.2, 0.5, 0.9, 1.01]
    results = [guide.compress(t) for t in thresholds]
    for low, high in zip(results, results[1:]):
        for cell in space.cell_types:
            assert not (high.masks[cell] & ~low.masks[cell]).any(), "a higher threshold keeps a subset"
            assert high.counts()[cell]["edges"] <= low.counts()[cell]["edges"]
    first, last = results[0].counts(), results[-1].counts()
    for cell, (edges, ops) in space.arch_shape.items():
        active = ops - ("none" in space.ops)
        assert first[cell] == {"ops": edges * active, "ops_total": edges * active, "edges": edges, "edges_total": edges}
        assert last[cell]["ops"] == 0 and last[cell]["edges"] == 0
        mid = results[3]
        kept = mid.masks[cell]
        assert 0 < int(kept.sum()) < edges * active
        mean = guide.mean_weights()[cell]
        assert torch.equal(mid.weights[cell], torch.where(kept, mean, torch.zeros(())))


def test_derivation_cuts_an_edge_by_its_own_gate_and_picks_ops_within_each_edge():
    space, _, _, guide = _build(threshold=0.3)
    _randomise_locs(guide, seed=3)
    guide.locs.cell_edge = torch.tensor([1.0, -0.9, 0.05, 0.8, 0.5, 1.2])  # 2<-1 (relevance 0.04) is cut
    op_locs = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    op_locs[5] *= 0.01  # 3<-2: every op gate tiny next to the others, but its edge gate is the largest
    guide.locs.cell_op = op_locs
    probs = guide.op_probabilities()["cell"]
    none = space.ops.index("none")
    assert torch.allclose(probs.sum(-1), torch.ones(6))
    assert probs[2, none] == 1.0 and (probs[[0, 1, 3, 4, 5], none] == 0).all()
    expected = ["none" if e == 2 else space.ops[1 + int(op_locs[e, 1:].abs().argmax())] for e in range(6)]
    derived = space.derive(guide.op_probabilities())
    ops_in_cell = [part.split("~")[0] for node in derived.split("+") for part in node.strip("|").split("|")]
    assert ops_in_cell == expected
    # the product relevance (compression) drops 3<-2 entirely at this threshold; derivation keeps it
    assert not guide.compress().masks["cell"][5].any() and expected[5] != "none"


def test_bad_inputs_are_clear_errors():
    space, _, _, guide = _build()
    with pytest.raises(ValueError, match="threshold must be in"):
        _build(threshold=1.5)
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        guide.compress(-0.1)
    with pytest.raises(ValueError, match=r"relevance for cell type 'cell' must have shape \(6, 5\)"):
        prune(space, {"cell": torch.ones(6, 4)}, guide.mean_weights(), 0.1)
    with pytest.raises(ValueError, match="init_variance must be > 0"):
        _build(init_variance=0.0)


def test_search_uses_the_one_epoch_protocol_and_stores_the_compression(tmp_path):
    result = search("bayesnas", out_dir=tmp_path, **TINY)
    assert result.epochs == 1 and result.config["warmup_epochs"] == 0
    assert result.config["arch_lr"] == 0.05 and result.config["arch_weight_decay"] == 0.0
    assert get_space("nb201").validate(result.genotype) == result.genotype
    saved = json.loads((tmp_path / "result.json").read_text())["method_summary"]["compression"]
    assert saved["genotype"] == result.genotype  # NB201: the argmax cell is the compressed cell
    assert 0 <= saved["survivors"]["cell"]["ops"] <= saved["survivors"]["cell"]["ops_total"] == 24
    code = main(
        ["search", "--quiet", "--method", "bayesnas", "--epochs", "2", "--train-size", "64", "--batch-size", "32"]
        + ["--channels", "4", "--cells-per-stage", "1", "--option", "kl_weight=0.1", "--out", str(tmp_path / "cli")]
    )
    assert code == 0
    saved = json.loads((tmp_path / "cli" / "result.json").read_text())
    assert saved["epochs"] == 2 and saved["config"]["method_options"] == {"kl_weight": 0.1}
    assert saved["method_summary"]["compression"]["threshold"] == 0.1


def test_ard_variances_are_fitted_by_the_architecture_steps_and_the_hierarchy_holds():
    space, supernet, model, guide = _build()
    svi = BilevelSVI(model, guide, supernet, weight_sgd(1), arch_adam(lr=0.1, weight_decay=0.0))
    x, y = next(iter(Batches(split_halves(load_digits(), size=16)[1], 16)))
    before = {name: p.detach().clone() for name, p in model.ard.named_parameters()}
    assert set(before) == {"cell_op_unconstrained", "cell_edge_unconstrained"}  # they exist ...
    for _ in range(5):
        svi.step_arch(x, y)
        gamma_op, gamma_edge = model.variances("cell")
        bound = gamma_edge.unsqueeze(-1).expand_as(gamma_op)
        assert (gamma_op <= bound).all() and (gamma_op <= model.ard.cell_op).all()  # capped after every update
    for name, p in model.ard.named_parameters():  # ... and every entry of both tables moved
        assert (p.detach() != before[name]).all(), name
    summary = model.summary()["ard_variances"]["cell"]
    assert torch.allclose(torch.tensor(summary["edge"]), gamma_edge.detach(), rtol=1e-3)
