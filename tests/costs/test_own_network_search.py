"""Cost-aware search of a network of your own: every method and metric, the budgeted genotype, result.json, the log,
the report, and a budget below the cheapest network refused before anything is written."""

import json

import pytest

from pyronas.api import search
from pyronas.cli import main
from pyronas.costs import count_flops, count_params, params_table
from pyronas.registry import METHODS
from pyronas.spaces import get_space
from tests.costs.conftest import DIGITS, OWN_TINY_API
from tests.costs.test_joint import readme_small_cnn

EXAMPLE = "pyronas.nn.examples:choice_convnet"
TINY = ["--dataset", "digits", "--train-size", "64", "--batch-size", "32", "--epochs", "2", "--quiet"]
BUDGET = 5_000  # parameters; the example's networks cost 706 to 15,546 on digits
PNG = b"\x89PNG\r\n\x1a\n"


def network(space, genotype: str):
    return space.network(genotype, num_classes=10, in_channels=1).eval()


@pytest.fixture(scope="module")
def budget_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("own") / "drnas"
    assert main(["search", "--space", EXAMPLE, "--method", "drnas", *TINY, "--cost", "params", "--budget", "5k",
                 "--out", str(out)]) == 0  # fmt: skip
    return out


def test_the_budgeted_genotype_is_within_the_budget_and_recorded(budget_run):
    result = json.loads((budget_run / "result.json").read_text())
    space = get_space(EXAMPLE)
    params = count_params(network(space, result["genotype"]))
    cost = result["cost"]
    assert params <= BUDGET and cost["genotype"]["params"] == params
    assert cost["genotype"]["flops"] == count_flops(network(space, result["genotype"]), DIGITS.images())
    assert cost["genotype"]["predicted"] == pytest.approx(params * 1e-6)  # the table's cost is the measured one
    assert (cost["metric"], cost["unit"], cost["budget"]) == ("params", "M parameters", 0.005)
    assert (cost["cheapest"], cost["costliest"]) == (pytest.approx(706e-6), pytest.approx(15546e-6))
    assert cost["span"] == pytest.approx(cost["costliest"] - cost["cheapest"]) and 0 < cost["expected"] < 0.016
    if result["argmax_genotype"] != result["genotype"]:
        assert cost["argmax_genotype"]["params"] > BUDGET


def test_each_epoch_logs_the_expected_cost_and_a_genotype_within_the_budget(budget_run):
    records = [json.loads(line) for line in (budget_run / "log.jsonl").read_text().splitlines()]
    space = get_space(EXAMPLE)
    table = params_table(space, DIGITS)
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert 706e-6 <= record["expected_cost"] <= 15546e-6
        assert table.cost(space, record["genotype"]) <= BUDGET


def test_the_report_draws_the_expected_cost(budget_run, tmp_path):
    dest = tmp_path / "report"
    assert main(["report", str(budget_run), "--to", str(dest), "--draws", "20"]) == 0
    assert (dest / "expected_cost.png").read_bytes().startswith(PNG)


def test_a_budget_below_the_cheapest_network_is_refused_before_the_search(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--space", EXAMPLE, *TINY, "--cost", "params", "--budget", "500", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"below the cheapest {EXAMPLE} architecture" in err, err
    assert "--channels" not in err  # the factory fixes the network's size
    assert not (out / "log.jsonl").exists() and not (out / "result.json").exists()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_searches_the_example_within_a_budget(method):
    result = search(method, space=EXAMPLE, cost="params", budget="5k", **OWN_TINY_API)
    assert result.method_summary["cost_prior"]["budget"] is not None  # the model wears the prior
    assert result.cost["genotype"]["params"] <= BUDGET
    assert result.cost["genotype"]["params"] == count_params(network(get_space(EXAMPLE), result.genotype))
    assert all("expected_cost" in record for record in result.history)


@pytest.mark.parametrize("metric", ["params", "flops", "latency"])
def test_every_metric_searches_the_readme_network(metric, tmp_path, monkeypatch):
    monkeypatch.setenv("PYRONAS_CACHE", str(tmp_path / "cache"))
    result = search("drnas", space=readme_small_cnn(), cost=metric, cost_weight=2.0, **OWN_TINY_API)
    cost = result.cost
    assert cost["metric"] == metric and cost["cheapest"] < cost["costliest"]
    assert cost["genotype"]["params"] > 0 and cost["genotype"]["flops"] > 0
    if metric == "latency":
        assert cost["unit"] == "ms" and cost["genotype"]["latency_ms"] > 0
        assert list((tmp_path / "cache" / "latency").glob("*.json"))
    else:
        measured = cost["genotype"][metric] * 1e-6
        assert cost["genotype"]["predicted"] == pytest.approx(measured)  # the table's cost is the network's


@pytest.mark.parametrize("metric", ["flops", "latency"])
def test_the_command_line_searches_the_example_with_each_metric(metric, tmp_path, monkeypatch):
    monkeypatch.setenv("PYRONAS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / metric
    assert main(["search", "--space", EXAMPLE, "--method", "balenas", *TINY, "--cost", metric, "--out", str(out)]) == 0
    cost = json.loads((out / "result.json").read_text())["cost"]
    assert cost["metric"] == metric and cost["genotype"]["flops"] > 0


def test_a_space_whose_interacting_decisions_are_too_many_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("pyronas.spaces.ModuleSpace.max_genotypes", 5)
    out = tmp_path / "run"
    assert main(["search", "--space", EXAMPLE, *TINY, "--cost", "flops", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "width, kernel interact and together have 6 combinations" in err, err
    assert not (out / "log.jsonl").exists()


def test_a_cost_size_the_factory_fixes_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["search", "--space", EXAMPLE, *TINY, "--cost", "params", "--out", str(out)]
    assert main([*args, "--cost-size", '{"channels": 16}']) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--cost-size channels does not apply to {EXAMPLE}" in err, err
    assert not out.exists()
    assert main([*args, "--cost-size", '{"image_size": 16}']) == 0  # the input size does apply
    assert json.loads((out / "result.json").read_text())["cost"]["size"]["image_size"] == 16
