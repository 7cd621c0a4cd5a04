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
