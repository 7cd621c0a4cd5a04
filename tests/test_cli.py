import json
import subprocess
import sys
import zipfile

import pytest

from pyronas.cli import main

TINY = ["--epochs", "1", "--cells-per-stage", "1", "--channels", "4", "--batch-size", "32"]
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_lookup_prints_row(nb201_csv, capsys):
    assert main(["lookup", BEST, "--benchmark", str(nb201_csv)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["arch"] == BEST and row["cifar10_test"] == pytest.approx(94.37, abs=0.01)


def test_lookup_malformed_cell_exits_nonzero_with_one_line(nb201_csv):
    proc = subprocess.run(
        [sys.executable, "-m", "pyronas", "lookup", "|bogus~0|", "--benchmark", str(nb201_csv)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "malformed NB201 cell" in proc.stderr


def test_lookup_without_table_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("PYRONAS_NB201", raising=False)
    assert main(["lookup", BEST]) == 2
    assert "PYRONAS_NB201" in capsys.readouterr().err


def test_search_on_digits_writes_result(tmp_path, capsys, nb201_csv):
    out = tmp_path / "run"
    code = main(["search", "--quiet", *TINY, "--train-size", "64", "--benchmark", str(nb201_csv), "--out", str(out)])
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    for key in ("method", "space", "dataset", "seed", "epochs", "genotype", "op_probabilities", "benchmark"):
        assert key in result
    assert result["method"] == "drnas" and result["dataset"] == "digits"
    assert set(result["op_probabilities"]["cell"]) == {"1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"}
    text = capsys.readouterr().out
    assert result["genotype"] in text and "NB201: cifar10 test" in text


def test_fast_path_flags_reach_the_search(tmp_path):
    out = tmp_path / "run"
    fast = ["--single-path", "--amp", "bf16"]
    assert main(["search", "--quiet", *TINY, "--train-size", "64", *fast, "--out", str(out)]) == 0
    config = json.loads((out / "result.json").read_text())["config"]
    assert config["single_path"] is True and config["amp"] == "bf16"


def test_search_on_shared_cifar_folder_reports_benchmark(tmp_path, cifar10_test_zip, nb201_csv, monkeypatch):
    monkeypatch.setenv("PYRONAS_CACHE", str(tmp_path / "cache"))
    with zipfile.ZipFile(cifar10_test_zip) as z:
        members = [n for n in z.namelist() if n.endswith(".jpg") and int(n[-8:-4]) < 20]
        z.extractall(tmp_path / "data", members)
    folder = tmp_path / "data" / "cifar10" / "test"
    argv = ["search", "--quiet", "--dataset", "folder", "--data-dir", str(folder), *TINY, "--method", "darts"]
    code = main([*argv, "--benchmark", str(nb201_csv), "--out", str(tmp_path / "run")])
    assert code == 0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["dataset"] == "folder" and result["benchmark"]["arch"] == result["genotype"]


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert main(["search", "--dataset", "folder", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    assert main(["search", "--option", "nonsense=1", "--epochs", "1", "--out", str(tmp_path / "x")]) == 2
    assert "no option" in capsys.readouterr().err
    assert main(["search", "--resume", "--out", str(tmp_path / "empty")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_digits_demo_posterior_moves_on_every_edge(tmp_path):
    """The README's main job, shortened to 6 of its 20 epochs: every edge has left the uniform 0.2 behind."""
    assert main(["search", "--quiet", "--epochs", "6", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "result.json").read_text())
    config = saved["config"]
    assert (config["channels"], config["cells_per_stage"], config["arch_lr"], config["arch_weight_decay"]) == (
        8,
        1,
        0.04,
        0.0,
    )
    largest = [max(probs.values()) for probs in saved["op_probabilities"]["cell"].values()]
    assert min(largest) > 0.24, largest  # from 0.2 at the start
