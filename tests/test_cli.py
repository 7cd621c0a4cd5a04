import io
import json
import subprocess
import sys
import zipfile

import pytest
import torch

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


def test_any_pyro_elbo_and_optimizer_by_name_on_the_digits_demo(tmp_path, capsys):
    """The issue's command, on the default digits demo shortened to 2 epochs."""
    argv = ["search", "--elbo", "RenyiELBO", "--elbo-args", '{"alpha": 0.5}', "--optim", "ClippedAdam"]
    argv += ["--optim-args", '{"lr": 0.01, "clip_norm": 5}', "--epochs", "2", "--out", str(tmp_path)]
    assert main(argv) == 0
    config = json.loads((tmp_path / "result.json").read_text())["config"]
    assert (config["elbo"], config["elbo_args"], config["arch_optim"], config["arch_lr"]) == (
        "RenyiELBO",
        {"alpha": 0.5},
        "ClippedAdam",
        0.01,
    )
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["arch_optim"]["optimizer"]["param_groups"][0]
    assert (state["lr"], state["clip_norm"], state["betas"]) == (0.01, 5, (0.9, 0.999))  # ClippedAdam's own betas
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {tmp_path / 'result.json'}"


def test_a_named_weight_optimizer_keeps_the_schedule_and_the_clip(tmp_path):
    argv = ["search", "--quiet", *TINY, "--train-size", "64", "--weight-optim", "Adam"]
    argv += ["--weight-optim-args", '{"betas": [0.8, 0.99]}', "--out", str(tmp_path)]
    assert main(argv) == 0
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["weight_optim"]
    group = state["optimizer"]["param_groups"][0]
    assert group["betas"] == (0.8, 0.99) and "momentum" not in group and group["initial_lr"] == 0.025
    assert state["scheduler"]["eta_min"] == 0.001  # the cosine schedule to --weight-lr-min


def test_quiet_prints_one_line_even_on_the_darts_space(tmp_path, capsys):
    argv = ["search", "--quiet", "--space", "darts", *TINY, "--train-size", "64", "--out", str(tmp_path)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and out.startswith("genotype: Genotype(normal=") and not err
    assert out.rstrip().endswith(f"wrote {tmp_path / 'result.json'}")


def test_no_progress_bar_in_a_redirected_log_but_the_epoch_lines(tmp_path, capsys):
    assert main(["search", *TINY, "--train-size", "64", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr()
    assert "epoch 1/1" in text.out + text.err and "%|" not in text.err and "step/s" not in text.err


def test_the_progress_bar_shows_on_a_terminal(monkeypatch):
    from pyronas.infer.rundir import progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    assert not progress_bar(10, 0, "search", True).disable
    assert progress_bar(10, 0, "search", False).disable
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress_bar(10, 0, "search", True).disable
