import json
import math

import numpy as np
import pytest
import xarray as xr

from pyronas.diagnostics import (
    cell_probability,
    derived_cells,
    edge_entropy,
    expected_accuracy,
    from_runs,
    load_run,
    op_probability_summary,
    summarize,
)
from pyronas.diagnostics._az import az
from pyronas.spaces import get_space

SPACE = get_space("nb201")


def _synthetic(concentrations: list[np.ndarray], draws: int = 400) -> az.InferenceData:
    """A posterior whose chain c draws Dirichlet(concentrations[c]) on every edge."""
    rng = np.random.default_rng(0)
    E, K = len(SPACE.edge_names), len(SPACE.ops)
    w = np.stack([rng.dirichlet(alpha, size=(draws, 1, E)) for alpha in concentrations])
    coords = {"cell_type": list(SPACE.cell_types), "edge": list(SPACE.edge_names), "op": list(SPACE.ops)}
    posterior = xr.Dataset(
        {"weights": (("chain", "draw", "cell_type", "edge", "op"), w)},
        coords={"chain": np.arange(len(concentrations)), "draw": np.arange(draws), **coords},
        attrs={"space": "nb201"},
    )
    assert w.shape[-1] == K
    return az.InferenceData(posterior=posterior)


def test_rhat_separates_agreeing_from_disagreeing_searches():
    same = _synthetic([np.array([20.0, 1, 1, 1, 1])] * 3)
    apart = _synthetic([np.array([20.0, 1, 1, 1, 1]), np.array([1, 20.0, 1, 1, 1]), np.array([1, 1, 20.0, 1, 1])])
    r_same = op_probability_summary(same)["edge_r_hat"]
    r_apart = op_probability_summary(apart)["edge_r_hat"]
    assert r_same.dims == ("cell_type", "edge")
    assert float(r_same.max()) < 1.02
    assert float(r_apart.min()) > 1.5
    ess = op_probability_summary(same)["ess_bulk"]
    assert float(ess.min()) > 0.5 * 3 * 400  # independent draws, agreeing chains


def test_credible_intervals_contain_the_mean():
    ops = op_probability_summary(_synthetic([np.array([5.0, 1, 1, 1, 1])] * 2), hdi_prob=0.9)
    assert bool((ops["hdi_lower"] <= ops["mean"]).all() and (ops["mean"] <= ops["hdi_upper"]).all())
    np.testing.assert_allclose(ops["mean"].sel(op="none"), 5 / 9, atol=0.02)


def test_edge_entropy_is_the_categorical_entropy_of_the_mean():
    idata = _synthetic([np.array([20.0, 1, 1, 1, 1]), np.ones(5)])
    p = idata.posterior["weights"].mean(("chain", "draw")).values
    expected = -(p * np.log(p)).sum(-1)
    np.testing.assert_allclose(edge_entropy(idata).values, expected)
    by_chain = edge_entropy(idata, by_chain=True)
    assert by_chain.dims == ("chain", "cell_type", "edge")
    assert float(by_chain.sel(chain=0).max()) < float(by_chain.sel(chain=1).min()) <= math.log(5)


def test_cell_probability_counts_draws_deriving_the_cell():
    peaked = _synthetic([np.array([1.0, 1, 1, 1000, 1])])  # nearly every draw picks nor_conv_3x3 everywhere
    out = cell_probability(peaked)
    assert (
        out["genotype"]
        == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    assert out["probability"] == 1.0 and out["per_chain"] == [1.0]
    flat = _synthetic([np.ones(5)] * 2)
    cells = derived_cells(flat)
    probability = cell_probability(flat, cells[0, 0])["probability"]
    assert 0 < probability == float(np.mean(cells == cells[0, 0])) < 0.05


def test_point_mass_posterior_derives_its_cell_with_probability_one(darts_run):
    idata = from_runs([darts_run], num_draws=20)
    out = cell_probability(idata)
    assert out["genotype"] == load_run(darts_run).genotype()
    assert out["probability"] == 1.0


def test_expected_accuracy_under_the_posterior(drnas_runs, nb201_table):
    idata = from_runs(drnas_runs, num_draws=60, benchmark=nb201_table)
    acc = expected_accuracy(idata)
    assert set(acc) == {"cifar10_valid", "cifar10_test", "cifar100_test", "imagenet16_test"}
    looked_up = [nb201_table.accuracies(c)["cifar10_test"] for c in derived_cells(idata).ravel()]
    assert acc["cifar10_test"]["mean"] == pytest.approx(np.mean(looked_up))
    assert acc["cifar10_test"]["sd"] == pytest.approx(np.std(looked_up))
    lo, hi = acc["cifar10_test"]["hdi"]
    assert min(looked_up) <= lo <= hi <= max(looked_up)
    assert expected_accuracy(from_runs(drnas_runs[:1], num_draws=5)) == {}


def test_summary_is_strict_json_with_an_r_hat_per_edge(drnas_runs, nb201_table):
    idata = from_runs(drnas_runs, num_draws=100, benchmark=nb201_table)
    summary = json.loads(json.dumps(summarize(idata), allow_nan=False))
    assert summary["chains"] == 3 and summary["draws"] == 100
    edges = summary["edges"]["cell"]
    assert list(edges) == list(SPACE.edge_names)
    for edge in edges.values():
        assert edge["r_hat"] == max(op["r_hat"] for op in edge["ops"].values())
        assert 0 < edge["entropy"] <= math.log(len(SPACE.ops)) + 1e-9
        assert list(edge["ops"]) == list(SPACE.ops)
    assert [s["seed"] for s in summary["searches"]] == [0, 1, 2]
    assert "expected_accuracy" in summary


def test_single_search_has_no_r_hat(drnas_runs):
    summary = summarize(from_runs(drnas_runs[:1], num_draws=50))
    assert all(edge["r_hat"] is None for edge in summary["edges"]["cell"].values())
    assert summary["max_r_hat"] is None
