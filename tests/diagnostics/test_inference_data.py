import numpy as np
import pytest
import torch
import xarray as xr

from pyronas.diagnostics import draw_weights, from_runs, load_run
from pyronas.diagnostics._az import az
from pyronas.spaces import get_space


@pytest.fixture(scope="module")
def idata(drnas_runs):
    return from_runs(drnas_runs, num_draws=400, seed=3)


def test_posterior_has_named_dims_and_coords_from_the_space(idata):
    space = get_space("nb201")
    w = idata.posterior["weights"]
    assert w.dims == ("chain", "draw", "cell_type", "edge", "op")
    assert w.shape == (3, 400, len(space.cell_types), len(space.edge_names), len(space.ops))
    assert list(w["edge"].values) == list(space.edge_names)
    assert list(w["op"].values) == list(space.ops)
    assert list(w["cell_type"].values) == list(space.cell_types)
    np.testing.assert_allclose(w.sum("op"), 1.0, rtol=1e-5)
    assert list(idata.guide["seed"].values) == [0, 1, 2]


def test_history_is_its_own_group(idata, drnas_runs):
    assert set(idata.posterior.data_vars) == {"weights"}
    hist = idata.optimization
    run = load_run(drnas_runs[1])
    np.testing.assert_allclose(hist["entropy"].sel(chain=1), [r["entropy"] for r in run.history])
    np.testing.assert_allclose(hist["train_loss"].sel(chain=1), [r["train_loss"] for r in run.history])
    steps = [v for r in run.history for v in r["valid_loss_steps"]]
    assert len(steps) == 2 * 2  # 2 epochs x (64 / 32) steps
    np.testing.assert_allclose(hist["valid_loss_steps"].sel(chain=1)[: len(steps)], steps)
    for record in run.history:  # the per-epoch loss is the mean of the recorded step losses
        np.testing.assert_allclose(np.mean(record["train_loss_steps"]), record["train_loss"], rtol=1e-9)
        np.testing.assert_allclose(np.mean(record["valid_loss_steps"]), record["valid_loss"], rtol=1e-9)


def test_draws_match_the_guide_and_chains_differ(idata, drnas_runs):
    means = idata.posterior["weights"].mean("draw")
    for c, path in enumerate(drnas_runs):
        guide = load_run(path).op_probabilities()["cell"].double().numpy()
        # Dirichlet(~1) per op: sd ~0.16, so 400 draws put the mean within ~0.03
        np.testing.assert_allclose(means.sel(chain=c, cell_type="cell"), guide, atol=0.04)
        np.testing.assert_allclose(idata.guide["op_probabilities"].sel(chain=c, cell_type="cell"), guide)
    # chains use independent draw seeds: no two chains share draws
    w = idata.posterior["weights"].values
    assert not np.allclose(w[0], w[1])


def test_point_mass_guide_gives_identical_draws(darts_run):
    run = load_run(darts_run)
    draws = draw_weights(run, 5)["cell"]
    for d in draws:
        np.testing.assert_allclose(d, run.op_probabilities()["cell"].double().numpy(), rtol=1e-6)


def test_draws_are_reproducible_and_leave_the_global_rng_alone(drnas_runs):
    run = load_run(drnas_runs[0])
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    a = draw_weights(run, 20, seed=5)["cell"]
    assert torch.equal(torch.rand(3), expected)
    b = draw_weights(run, 20, seed=5)["cell"]
    np.testing.assert_array_equal(a, b)


def test_netcdf_round_trip(idata, tmp_path):
    path = tmp_path / "posterior.nc"
    idata.to_netcdf(str(path))
    back = az.from_netcdf(str(path))
    assert set(back.groups()) == set(idata.groups()) == {"posterior", "optimization", "guide"}
    for group in idata.groups():
        xr.testing.assert_allclose(back[group].load(), idata[group])
    assert back.posterior.attrs["space"] == "nb201"
    assert list(back.guide["genotype"].values) == list(idata.guide["genotype"].values)


def test_benchmark_draws_are_table_lookups_of_derived_cells(drnas_runs, nb201_table):
    data = from_runs(drnas_runs[:1], num_draws=30, benchmark=nb201_table)
    space = get_space("nb201")
    acc = data.posterior["benchmark_cifar10_test"]
    assert acc.dims == ("chain", "draw")
    for d in (0, 7, 29):
        w = torch.from_numpy(data.posterior["weights"].values[0, d])
        cell = space.derive({"cell": w[0]})
        assert float(acc[0, d]) == nb201_table.accuracies(cell)["cifar10_test"]


def test_runs_must_share_a_space_and_exist(tmp_path):
    with pytest.raises(ValueError, match="no search folders"):
        from_runs([])
    with pytest.raises(ValueError, match="has no checkpoint.pt"):
        from_runs([tmp_path])
