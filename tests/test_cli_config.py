"""The CLI derived from the config: --print-config, --config files, `pyronas methods`, one line per epoch."""

import json

from pyronas.cli import main
from pyronas.config import FIELDS
from pyronas.registry import METHODS


def test_print_config_shows_the_resolved_settings(capsys):
    assert main(["search", "--method", "balenas", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["version"] == 2 and printed["method"] == "balenas"
    assert printed["arch"]["arch_optim"] == "ngvi" and printed["arch"]["arch_lr"] == 0.01
    assert printed["schedule"]["epochs"] == 20 and printed["supernet"]["channels"] == 8  # the digits demo


def test_config_file_under_the_options_and_one_line_per_epoch(tmp_path, capsys):
    settings = {
        "method": "darts",
        "schedule": {"epochs": 2},
        "supernet": {"channels": 4, "cells_per_stage": 1},
        "data": {"train_size": 64, "batch_size": 32},
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(settings))
    out = tmp_path / "run"
    assert main(["search", "--config", str(path), "--seed", "3", "--out", str(out)]) == 0
    text = capsys.readouterr()
    lines = [line for line in (text.out + text.err).splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert all("train loss" in line and "entropy" in line for line in lines)
    config = json.loads((out / "result.json").read_text())["config"]
    assert (config["method"], config["seed"], config["epochs"], config["channels"]) == ("darts", 3, 2, 4)
    assert set(config) == {"version", *FIELDS}  # the same keys whatever was used


def test_methods_lists_every_method_with_description_and_options(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name, spec in METHODS.items():
        assert f"{name}: {spec.description}" in out
    assert "kl_weight=" in out


def test_bad_config_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    assert main(["search", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not valid JSON" in err
