import pyro
import pytest
import torch

from pyronas.diagnostics import load_run


def _logged(run):
    return {cell: torch.tensor(p) for cell, p in run.history[-1]["op_probabilities"].items()}


def test_loaded_guides_reproduce_their_checkpoints_side_by_side(drnas_runs):
    runs = [load_run(path) for path in drnas_runs]  # all loaded before any is read
    for run in runs:
        logged = _logged(run)
        probs = run.op_probabilities()
        assert set(probs) == set(logged)
        for cell in logged:
            torch.testing.assert_close(probs[cell], logged[cell])
        assert run.genotype() == run.history[-1]["genotype"]
    # different seeds give different guides: the runs really are isolated from each other
    assert not torch.allclose(runs[0].op_probabilities()["cell"], runs[1].op_probabilities()["cell"])


def test_darts_guide_reloads(darts_run):
    run = load_run(darts_run)
    torch.testing.assert_close(run.op_probabilities()["cell"], _logged(run)["cell"])
    assert run.method == "darts" and run.seed == 0


def test_loading_leaves_the_global_param_store_alone(drnas_runs):
    pyro.param("arch.cell_theta", torch.full((6, 5), 7.0))
    run = load_run(drnas_runs[0])
    run.op_probabilities()
    assert torch.equal(pyro.param("arch.cell_theta"), torch.full((6, 5), 7.0))
    assert list(pyro.get_param_store().keys()) == ["arch.cell_theta"]


def test_bad_folders_give_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        load_run(tmp_path / "missing")
    with pytest.raises(ValueError, match="has no checkpoint.pt"):
        load_run(tmp_path)


def _predict(model, guide, images):
    from pyro.infer import Predictive

    from pyronas.infer.primitives import LOGITS

    with torch.no_grad():
        return Predictive(model, guide=guide, num_samples=3, return_sites=[LOGITS])(images)[LOGITS]


def test_a_loaded_run_carries_its_trained_supernet_ready_for_predictive(drnas_runs):
    run = load_run(drnas_runs[0])
    state = torch.load(drnas_runs[0] / "checkpoint.pt", weights_only=False)["model"]
    trained = {k.removeprefix("supernet."): v for k, v in state.items() if k.startswith("supernet.")}
    assert trained and all(torch.equal(run.supernet.state_dict()[k], v) for k, v in trained.items())
    assert run.model.supernet is run.supernet
    images = torch.randn(5, 1, 8, 8)
    with run.activate():
        logits = _predict(run.model, run.guide, images)
        trace = pyro.poutine.trace(run.guide).get_trace()
    assert logits.shape[0] == 3 and logits.shape[-2:] == (5, 10) and torch.isfinite(logits).all()
    assert any(site["type"] == "sample" for site in trace.nodes.values())


def test_a_search_result_hands_over_its_trained_model_guide_and_store():
    from pyronas.api import search

    tiny = dict(dataset="digits", train_size=64, batch_size=32, channels=4, cells_per_stage=1, warmup_epochs=0)
    result = search("drnas", seed=0, epochs=1, progress=False, **tiny)
    assert pyro.get_param_store().keys() == set()  # scoped: nothing leaks into the global store
    with result.activate():
        logits = _predict(result.model, result.guide, torch.randn(4, 1, 8, 8))
        probs = result.guide.op_probabilities()
    assert logits.shape[0] == 3 and logits.shape[-2:] == (4, 10) and result.model.supernet is result.supernet
    cell = next(iter(probs))
    assert float(probs[cell].sum(-1).mean()) == pytest.approx(1.0)
