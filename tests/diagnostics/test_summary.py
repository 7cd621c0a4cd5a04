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


def test_cell_probability_is_the_product_of_per_edge_shares_with_its_standard_error():
    peaked = _synthetic([np.array([1.0, 1, 1, 1000, 1])])  # nearly every draw picks nor_conv_3x3 everywhere
    out = cell_probability(peaked)
    assert (
        out["genotype"]
        == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    assert out["probability"] == pytest.approx(1.0, abs=0.01) and out["method"] == "per-edge monte carlo"
    flat = _synthetic([np.ones(5)] * 2)  # every cell has probability 5**-6
    cells = derived_cells(flat)
    never = next(cell for cell in SPACE.genotypes() if cell not in set(cells.ravel()))
    for cell in (cells[0, 0], never):  # a cell no draw derived as a whole is not 0
        out = cell_probability(flat, cell)
        assert 0 < out["standard_error"] < out["probability"]
        assert abs(out["probability"] - 5.0**-6) < 4 * out["standard_error"]
        assert len(out["per_chain"]) == len(out["per_chain_standard_error"]) == 2


def test_cell_probability_is_exact_for_a_categorical_guide():
    rng = np.random.default_rng(1)
    E, K = len(SPACE.edge_names), len(SPACE.ops)
    probs = rng.dirichlet(np.ones(K), size=(2, 1, E))  # [chain, cell_type, edge, op]
    picks = np.stack([[[[rng.choice(K, p=probs[c, 0, e]) for e in range(E)]] for _ in range(50)] for c in range(2)])
    w = np.eye(K)[picks]  # one-hot draws [chain, draw, cell_type, edge, op]
    coords = {"cell_type": list(SPACE.cell_types), "edge": list(SPACE.edge_names), "op": list(SPACE.ops)}
    dims = ("chain", "draw", "cell_type", "edge", "op")
    posterior = xr.Dataset({"weights": (dims, w)}, coords={"chain": [0, 1], "draw": np.arange(50), **coords},
                           attrs={"space": "nb201"})  # fmt: skip
    guide = xr.Dataset({"op_probabilities": (("chain", "cell_type", "edge", "op"), probs)},
                       coords={"chain": [0, 1], **coords})  # fmt: skip
    idata = az.InferenceData(posterior=posterior, guide=guide)
    cell = "|none~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
    chosen = SPACE.one_hot(cell)[SPACE.cell_types[0]].numpy().argmax(-1)
    expected = [float(np.prod(probs[c, 0, np.arange(E), chosen])) for c in range(2)]
    out = cell_probability(idata, cell)
    assert out["method"] == "exact" and out["per_chain"] == pytest.approx(expected)
    assert out["probability"] == pytest.approx(np.mean(expected)) and out["standard_error"] == 0


def test_point_mass_posterior_derives_its_cell_with_probability_one(darts_run):
    idata = from_runs([darts_run], num_draws=20)
    out = cell_probability(idata)
    assert out["genotype"] == load_run(darts_run).genotype()
    assert out["probability"] == 1.0 and out["standard_error"] == 0 and out["method"] == "per-edge monte carlo"


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


def test_cell_probability_is_the_share_of_draws_where_a_darts_node_couples_its_edges():
    from pyronas.diagnostics.inference_data import _coords
    from pyronas.diagnostics.layout import layout

    darts = get_space("darts")
    lay = layout(darts)
    rng = np.random.default_rng(2)
    tables = {cell: rng.dirichlet(np.ones(len(darts.ops)) * 0.3, size=(1, 40, 14)) for cell in darts.cell_types}
    w = lay.dense(tables)  # [chain, draw, cell_type, edge, op]
    dims = ("chain", "draw", "cell_type", "edge", "op")
    posterior = xr.Dataset({"weights": (dims, w)}, coords={"chain": [0], "draw": np.arange(40), **_coords(lay)},
                           attrs={"space": "darts"})  # fmt: skip
    idata = az.InferenceData(posterior=posterior)
    cells = derived_cells(idata)
    out = cell_probability(idata, cells[0, 0])
    share = float(np.mean(cells == cells[0, 0]))
    assert out["method"] == "share of draws" and out["probability"] == share
    assert out["standard_error"] == pytest.approx(np.sqrt(share * (1 - share) / 40))
