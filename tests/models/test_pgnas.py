"""PGNAS: relaxed keep-gates as mixing weights, the closed-form variational-dropout KL, a search on digits."""

import pyro
import pytest
import torch
from pyro import poutine

from pyronas.api import search
from pyronas.infer import BilevelSVI
from pyronas.optim import arch_adam, weight_sgd
from pyronas.registry import get_method
from pyronas.spaces import SPACES, get_space

SPACE_NAMES = [name for name in ("nb201", "darts") if name in SPACES]


def _build(space_name="nb201", **options):
    space = get_space(space_name)
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    model, guide = get_method("pgnas").build(supernet, space, **options)
    return space, supernet, model, guide


def _traces(model, guide, x, y):
    guide_trace = poutine.trace(guide).get_trace(x, y)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x, y)
    return guide_trace, model_trace


def _entropy(p):
    return -(p * p.log() + (1 - p) * (1 - p).log())


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_gates_are_relaxed_bernoulli_draws_and_op_probabilities_normalise_keep_probs(space_name):
    space, _, model, guide = _build(space_name, init_drop=0.25)
    guide_trace = poutine.trace(guide).get_trace()
    gates = poutine.replay(model.arch, trace=guide_trace)()
    for cell, shape in space.arch_shape.items():
        site = guide_trace.nodes[f"arch.{cell}.gates"]
        assert site["fn"].base_dist.temperature == pytest.approx(0.2)
        assert gates[cell].shape == shape and torch.equal(gates[cell], site["value"])
        assert ((gates[cell] >= 0) & (gates[cell] <= 1)).all() and gates[cell].std() > 0
        keep = guide.keep_probabilities()[cell].detach()
        assert torch.allclose(keep, torch.full(shape, 0.75))
        probs = guide.op_probabilities()[cell]
        assert probs.shape == shape and ((probs > 0) & (probs < 1)).all()
        assert torch.allclose(probs.sum(-1), torch.ones(shape[0]))
    space.validate(space.derive(guide.op_probabilities()))
    assert sorted(pyro.get_param_store()) == sorted(f"arch.keep_probs.{cell}" for cell in space.cell_types)


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_op_parameters_group_each_gated_weight_once(space_name):
    space, supernet, _, _ = _build(space_name)
    tables = space.op_parameters(supernet)
    assert set(tables) == set(space.cell_types)
    ids = [id(p) for table in tables.values() for row in table for params in row for p in params]
    assert len(ids) == len(set(ids))  # no parameter in two groups
    assert set(ids) < {id(p) for p in supernet.parameters()}  # the stem and the classifier are ungated
    for table in tables.values():
        assert [len(row) for row in table] == [len(space.ops)] * len(space.edge_names)
        for row in table:
            for op, params in zip(space.ops, row):
                if op != "skip_connect":  # weights only where it reduces (DARTS' FactorizedReduce)
                    assert bool(params) == ("conv" in op), op


def test_kl_factors_match_a_hand_computation_on_a_tiny_supernet():
    length_scale, num_data = 3.0, 100.0
    space, supernet, model, guide = _build(length_scale=length_scale, num_data=num_data, init_drop=0.3)
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    guide_trace, model_trace = _traces(model, guide, x, y)
    gates = guide_trace.nodes["arch.cell.gates"]["value"]
    # squared norms of each op's weights, summed over the search cells, by walking the supernet directly
    sq = torch.zeros(6, 5)
    gated = set()
    for layer in supernet.cells:
        if hasattr(layer, "edges"):
            for e, mixed in enumerate(layer.edges):
                for k, op in enumerate(mixed.ops):
                    for p in op.parameters():
                        sq[e, k] += p.detach().square().sum()
                        gated.add(id(p))
    assert sq[:, 0].eq(0).all() and sq[:, 3].gt(0).all()  # none: no weights; nor_conv_3x3: weights
    rest = sum(p.detach().square().sum() for p in supernet.parameters() if id(p) not in gated)
    expected_prior = -(length_scale**2 / (2 * num_data)) * ((gates * sq).sum() + rest)
    log_prior = model_trace.nodes["arch.weight_prior"]["fn"].log_factor
    assert torch.allclose(log_prior, expected_prior, rtol=1e-5)
    keep = torch.full((6, 5), 0.7)
    expected_log_q = -_entropy(keep).sum() / num_data
    assert torch.allclose(guide_trace.nodes["arch.cell.gates_log_q"]["fn"].log_factor, expected_log_q, rtol=1e-5)
    # the ELBO sees exactly: mean cross-entropy + KL (the relaxed gate densities are masked out)
    logits = model_trace.nodes["logits"]["value"]
    loss = guide_trace.log_prob_sum() - model_trace.log_prob_sum()
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert torch.allclose(loss, ce - expected_prior + expected_log_q, rtol=1e-5)
    # the weight-decay part couples gate and weights: d(-log prior)/dw = (l^2 / N) * a_ek * w
    conv = supernet.cells[0].edges[2].ops[3][1].weight
    (grad,) = torch.autograd.grad(-log_prior, conv)
    assert torch.allclose(grad, length_scale**2 / num_data * gates[2, 3].detach() * conv.detach(), rtol=1e-5)


def test_weight_prior_is_the_methods_kl_in_expectation_over_gates():
    # E_q[a] -> keep probability as the temperature -> 0: the factor becomes sum (l^2 p / 2N) ||w||^2 of METHODS.md
    space, supernet, model, guide = _build(temperature=0.02, init_drop=0.4)
    q = poutine.trace(guide).get_trace().nodes["arch.cell.gates"]["fn"]  # the guide's own gate distribution
    mean_gates = q.sample((4000,)).mean(0)
    keep = guide.keep_probabilities()["cell"].detach()
    assert torch.allclose(mean_gates, keep, atol=0.05)
    with torch.no_grad():
        # the factor is linear in the gates: its mean over draws is its value at the mean gate
        estimate, exact = model.weight_prior({"cell": mean_gates}), model.weight_prior({"cell": keep})
    assert torch.allclose(estimate, exact, rtol=0.02)


def test_arch_steps_move_keep_probs_and_weight_steps_leave_them():
    space, supernet, model, guide = _build(num_data=10.0)
    svi = BilevelSVI(model, guide, supernet, weight_sgd(1, weight_decay=0.0), arch_adam(0.05))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    svi.step_weights(x, y)
    keep0 = guide.keep_probabilities()["cell"].detach().clone()
    assert torch.allclose(keep0, torch.full((6, 5), 0.9))
    for _ in range(3):
        svi.step_arch(x, y)
    keep = guide.keep_probabilities()["cell"].detach()
    assert not torch.allclose(keep, keep0) and ((keep > 0) & (keep < 1)).all()
    assert all(p.grad is None for p in supernet.parameters())


def test_bad_options_are_one_line_errors():
    with pytest.raises(ValueError, match="init_drop must lie in"):
        _build(init_drop=1.0)
    with pytest.raises(ValueError, match="temperature and num_data must be > 0"):
        _build(temperature=0.0)
    with pytest.raises(ValueError, match="length_scale must be >= 0"):
        _build(length_scale=-1.0)


def test_search_on_digits_gives_a_valid_genotype():
    result = search(
        method="pgnas", epochs=2, warmup_epochs=0, train_size=128, channels=4, cells_per_stage=1, progress=False
    )
    space = get_space("nb201")
    assert space.validate(result.genotype) == result.genotype
    assert result.config["weight_decay"] == 0.0  # the KL's prior is the weight decay
    probs = torch.tensor([list(p.values()) for p in result.op_probabilities["cell"].values()])
    assert torch.allclose(probs.sum(-1), torch.ones(6), atol=1e-4)
    assert not torch.allclose(probs, torch.full((6, 5), 0.2), atol=1e-6)  # architecture steps moved the gates
