import pytest

from pyronas.benchmarks import BenchmarkError, NB201Table
from pyronas.spaces import CellStringError

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_table_has_all_cells_and_published_optimum(nb201_table):
    assert len(nb201_table) == 15_625
    best = max(nb201_table, key=lambda r: r["cifar10_test"])
    assert best["cifar10_test"] == pytest.approx(94.37, abs=0.01)
    assert max(r["cifar100_test"] for r in nb201_table) == pytest.approx(73.51, abs=0.01)


def test_query_by_cell_and_index_agree(nb201_table):
    row = nb201_table.query(BEST)
    assert nb201_table.query(row["index"]) == row
    assert nb201_table.cell(row["index"]) == BEST
    assert nb201_table.index(BEST) == row["index"]
    assert set(nb201_table.accuracies(BEST)) == {"cifar10_valid", "cifar10_test", "cifar100_test", "imagenet16_test"}


def test_env_var_is_used(nb201_csv, monkeypatch):
    monkeypatch.setenv("PYRONAS_NB201", str(nb201_csv))
    assert len(NB201Table()) == 15_625


def test_missing_table_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PYRONAS_NB201", raising=False)
    with pytest.raises(BenchmarkError, match="no NB201 table given"):
        NB201Table()
    with pytest.raises(BenchmarkError, match="not found"):
        NB201Table(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(BenchmarkError, match="not an NB201 table"):
        NB201Table(bad)


def test_malformed_cell_and_unknown_index(nb201_table):
    with pytest.raises(CellStringError):
        nb201_table.query("|nor_conv_3x3~0|+|oops|")
    with pytest.raises(BenchmarkError):
        nb201_table.query(99_999)
