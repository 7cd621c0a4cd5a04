import json

import pytest

from pyronas.cli import main
from pyronas.diagnostics._az import az
from pyronas.spaces import get_space

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = ("op_probabilities.png", "forest.png", "traces.png", "cell.png")


def test_report_on_three_seeds(drnas_runs, nb201_csv, tmp_path, capsys):
    dest = tmp_path / "report"
    argv = ["report", *map(str, drnas_runs), "--to", str(dest), "--draws", "80", "--benchmark", str(nb201_csv)]
    assert main(argv) == 0
    assert "summary.json" in capsys.readouterr().out
    for name in FIGURES:
        data = (dest / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    summary = json.loads((dest / "summary.json").read_text())
    assert summary["chains"] == 3 and summary["draws"] == 80
    edges = summary["edges"]["cell"]
    assert list(edges) == list(get_space("nb201").edge_names)
    assert all(isinstance(edge["r_hat"], float) and edge["r_hat"] > 0.9 for edge in edges.values())
    assert set(summary["expected_accuracy"]) >= {"cifar10_test"}
    idata = az.from_netcdf(str(dest / "posterior.nc"))
    assert idata.posterior.sizes["chain"] == 3


def test_report_of_one_search_goes_into_its_folder(drnas_runs, monkeypatch):
    monkeypatch.delenv("PYRONAS_NB201", raising=False)
    assert main(["report", str(drnas_runs[0]), "--draws", "20"]) == 0
    summary = json.loads((drnas_runs[0] / "report" / "summary.json").read_text())
    assert summary["chains"] == 1 and "expected_accuracy" not in summary


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_report_rejects_a_folder_without_a_search(tmp_path, capsys, make):
    path = tmp_path / "nothing"
    if make == "empty":
        path.mkdir()
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyronas report: error:") and len(err.splitlines()) == 1
