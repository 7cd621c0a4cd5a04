"""Cost-aware search end to end: the options, the budgeted cell of DrNAS and BaLeNAS, result.json, log.jsonl, report."""

import json

import pytest
import torch

from pyronas.api import search
from pyronas.build import resolve_search
from pyronas.cli import main, parse_args
from pyronas.config import SearchConfig
from pyronas.costs import NetworkSize, count_params, params_table
from pyronas.costs.candidates import build
from pyronas.costs.units import parse_budget
from pyronas.diagnostics import load_run
from pyronas.registry import METHODS
from pyronas.spaces import get_space

TINY = ["--dataset", "digits", "--train-size", "64", "--batch-size", "32", "--channels", "4", "--cells-per-stage", "1"]
TINY_API = dict(dataset="digits", train_size=64, batch_size=32, channels=4, cells_per_stage=1, epochs=1, progress=False)
BUDGET = 10_000  # parameters; the tiny nb201 networks cost 4,822 to 23,302
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "text, metric, value",
    [("0.5M", "params", 5e5), ("500k", "params", 5e5), ("20M", "flops", 2e7), ("1.5G", "flops", 1.5e9),
     ("5ms", "latency", 5.0), ("500us", "latency", 0.5), ("7", "latency", 7.0), (2500, "params", 2500.0)],
)  # fmt: skip
def test_budgets_read_in_the_metric_base_unit(text, metric, value):
    assert parse_budget(text, metric) == pytest.approx(value)


def test_the_cost_flags_parse_and_resolve():
    settings = parse_args(["search", "--cost", "params", "--cost-weight", "2", "--budget", "0.5M"]).settings
    assert (settings["cost"], settings["cost_weight"], settings["budget"]) == ("params", 2.0, "0.5M")
    c, _, _ = resolve_search(settings)
    assert (c["cost"], c["cost_weight"], c["budget"]) == ("params", 2.0, 5e5)
    assert resolve_search(c)[0] == c  # resolving twice changes nothing
    assert resolve_search(method="drnas", cost="flops")[0]["cost_weight"] == 1.0  # the default strength


def test_the_resume_key_holds_the_cost_settings_only_when_set():
    plain = resolve_search(method="drnas")[0].resume_key()
    assert not {"cost", "cost_weight", "budget"} & set(plain)  # checkpoints from before the settings still resume
    costed = resolve_search(method="drnas", cost="params", budget="20k")[0].resume_key()
    assert (costed["cost"], costed["cost_weight"], costed["budget"]) == ("params", 1.0, 20_000.0)
    assert costed != resolve_search(method="drnas", cost="params", budget="30k")[0].resume_key()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--cost", "params", "--budget", "5ms"], "budget = '5ms'"),
        (["--cost", "latency", "--budget", "0.5M"], "budget = '0.5M'"),
        (["--cost", "flops", "--budget", "-3M"], "budget = '-3M'"),
        (["--budget", "0.5M"], "needs a cost metric"),
        (["--cost-weight", "2"], "needs a cost metric"),
        (["--cost", "params", "--cost-weight", "-1"], "cost_weight = -1.0 is out of range"),
        (["--cost", "params", "--budget", "20k", "--select", "valid"], "drop --select valid or --budget"),
    ],
)
def test_bad_cost_settings_are_one_line(argv, words, capsys):
    assert main(["search", *argv, "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


def test_a_budget_below_the_cheapest_cell_is_refused_before_the_search(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", *TINY, "--epochs", "1", "--cost", "params", "--budget", "1k", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "below the cheapest nb201 architecture" in err
    assert not (out / "log.jsonl").exists()


@pytest.fixture(scope="module")
def budget_runs(tmp_path_factory):
    """A two-epoch DrNAS and BaLeNAS search on digits with a parameter budget."""
    root = tmp_path_factory.mktemp("budget")
    for method in ("drnas", "balenas"):
        argv = ["search", "--method", method, *TINY, "--epochs", "2", "--cost", "params", "--budget", "10k"]
        assert main([*argv, "--out", str(root / method), "--quiet"]) == 0
    return root


@pytest.mark.parametrize("method", ["drnas", "balenas"])
def test_the_budgeted_cell_is_within_the_budget(budget_runs, method):
    out = budget_runs / method
    result = json.loads((out / "result.json").read_text())
    space = get_space("nb201")
    net = build(space, result["genotype"], NetworkSize(4, 1, 10, 1, 8))
    assert count_params(net) <= BUDGET
    cost = result["cost"]
    assert cost["genotype"]["params"] == count_params(net) and cost["genotype"]["flops"] > 0
    assert (cost["metric"], cost["unit"], cost["weight"], cost["budget"]) == ("params", "M parameters", 1.0, 0.01)
    assert cost["cheapest"] <= cost["budget"] < cost["costliest"] and cost["span"] > 0
    probs = {cell: torch.tensor(_dense(space, p)) for cell, p in result["op_probabilities"].items()}
    assert result["argmax_genotype"] == space.derive(probs)
    if result["argmax_genotype"] != result["genotype"]:
        assert cost["argmax_genotype"]["params"] > BUDGET  # the argmax was over the budget, so it was replaced
    assert (result["config"]["cost"], result["config"]["budget"]) == ("params", 10_000.0)


def _dense(space, named: dict) -> list:
    """Op probabilities ``{edge: {op: p}}`` of result.json as ``[E, K]`` rows."""
    return [[named[edge][op] for op in space.ops] for edge in space.edge_names]


@pytest.mark.parametrize("method", ["drnas", "balenas"])
def test_each_epoch_logs_the_expected_cost_and_a_cell_within_the_budget(budget_runs, method):
    records = [json.loads(line) for line in (budget_runs / method / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    space = get_space("nb201")
    table = params_table(space, NetworkSize(4, 1, 10, 1, 8))
    for record in records:
        assert table.fixed * 1e-6 <= record["expected_cost"] <= 0.023302 + 1e-9
        assert table.cost(space, record["genotype"]) <= BUDGET
        if "argmax_genotype" in record:
            assert table.cost(space, record["argmax_genotype"]) > BUDGET


def test_the_checkpoint_of_a_costed_search_reads_as_the_methods_own(budget_runs):
    run = load_run(budget_runs / "drnas")  # the plain pair loads the state the wrapped model saved
    net = run.network(inherit_weights=True, calibration=1)
    assert count_params(net) <= BUDGET


def test_the_report_draws_the_expected_cost(budget_runs, tmp_path, capsys):
    dest = tmp_path / "report"
    assert main(["report", str(budget_runs / "drnas"), "--to", str(dest), "--draws", "20"]) == 0
    assert (dest / "expected_cost.png").read_bytes().startswith(PNG)


def test_a_report_without_costs_draws_no_cost_plot(tmp_path):
    out = tmp_path / "plain"
    assert main(["search", *TINY, "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    assert "expected_cost" not in json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert json.loads((out / "result.json").read_text())["cost"] is None
    assert main(["report", str(out), "--to", str(tmp_path / "report"), "--draws", "10"]) == 0
    assert not (tmp_path / "report" / "expected_cost.png").exists()


def test_a_latency_search_measures_its_cell_and_caches_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRONAS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "latency"
    assert main(["search", *TINY, "--epochs", "1", "--cost", "latency", "--cost-weight", "0.5", "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    cost = json.loads((out / "result.json").read_text())["cost"]
    assert cost["unit"] == "ms" and cost["genotype"]["latency_ms"] > 0 and cost["genotype"]["params"] > 0
    assert list((tmp_path / "cache" / "latency").glob("*.json"))


def test_config_json_round_trip_keeps_the_cost_settings():
    c, _, _ = resolve_search(method="drnas", cost="latency", budget="5ms")
    costs = ("cost", "cost_weight", "budget", "cost_size")
    assert [SearchConfig.from_json(c.to_json())[k] for k in costs] == [c[k] for k in costs]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_searches_with_the_cost_prior(method):
    result = search(method, cost="flops", cost_weight=2.0, **TINY_API)
    assert result.method_summary["cost_prior"]["weight"] == 2.0  # the model wears the prior
    assert result.cost["metric"] == "flops" and result.cost["genotype"]["flops"] > 0
    assert all("expected_cost" in record for record in result.history)


def test_a_budgeted_darts_search_resumes_with_its_cell_within_the_budget(tmp_path):
    out = tmp_path / "darts"
    first = search("drnas", space="darts", cost="params", budget="12k", out_dir=out, **TINY_API)
    assert first.cost["genotype"]["params"] <= 12_000  # the greedy derivation (DARTS does not enumerate)
    again = search(first.config.replace(resume=True))  # the wrapped model's checkpoint loads back
    assert again.genotype == first.genotype and len(again.history) == 1


def test_cost_size_counts_the_budget_on_another_network(tmp_path):
    """A small supernet searched under the budget of a larger standalone network (``cost_size``)."""
    size = {"channels": 8, "cells_per_stage": 2, "image_size": 16}
    result = search("drnas", **TINY_API, cost="params", budget="60k", cost_size=size, out_dir=tmp_path / "run")
    cost = result.to_json()["cost"]
    assert cost["size"] == {**size, "num_classes": 10, "in_channels": 1}
    net = build(get_space("nb201"), result.genotype, NetworkSize(8, 2, 10, 1, 16))
    assert cost["genotype"]["params"] == count_params(net) <= 60_000
    small = build(get_space("nb201"), result.genotype, NetworkSize(4, 1, 10, 1, 8))
    assert count_params(small) < count_params(net)  # the search's own size would have counted less


@pytest.mark.parametrize(
    "argv, words",
    [(["--cost-size", '{"channels": 16}'], "cost_size = {'channels': 16} needs a cost metric"),
     (["--cost", "params", "--cost-size", '{"width": 16}'], "unknown cost_size key 'width'"),
     (["--cost", "params", "--cost-size", '{"channels": 0}'], "cost_size channels = 0 must be a positive integer")],
)  # fmt: skip
def test_bad_cost_sizes_are_one_line(argv, words, capsys):
    assert main(["search", *argv, "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
