"""``pyronas train --from RUN_DIR``: retrain a search's found cell from scratch, or fine-tune its inherited weights."""

import json

import pytest
import torch

import pyronas
from pyronas.api import search
from pyronas.cli import main
from pyronas.train import from_run, resolved, train
from pyronas.train_config import TrainConfig

NB201_TRAIN = ["--dataset", "digits", "--epochs", "1", "--batch-size", "64", "--drop-path", "0", "--auxiliary-weight",
               "0", "--cutout", "0", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def nb201_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    result = search("drnas", dataset="digits", epochs=1, out_dir=str(out), progress=False)
    return result, out


def test_from_run_takes_the_cell_and_with_inherited_weights_the_supernet_size(nb201_run):
    result, out = nb201_run
    c = from_run(TrainConfig(from_run=str(out)))
    assert (c.genotype, c.space, c.channels, c.cells_per_stage) == (result.genotype, "nb201", None, None)
    assert (resolved(c).channels, resolved(c).cells_per_stage) == (16, 5)  # NB201's recipe
    c = from_run(TrainConfig(from_run=str(out), inherit_weights=True))
    assert (c.channels, c.cells_per_stage) == (result.config["channels"], result.config["cells_per_stage"])
    with pytest.raises(ValueError, match="inherit_weights needs .* from_run='RUN_DIR'"):
        TrainConfig(genotype="DARTS_V2", inherit_weights=True).check()


def test_cli_train_from_a_run_from_scratch_and_fine_tuned(nb201_run, tmp_path, capsys):
    result, out = nb201_run
    sizes = ["--channels", "8", "--cells-per-stage", "1"]
    assert main(["train", "--from", str(out), *NB201_TRAIN, *sizes, "--out", str(tmp_path / "scratch")]) == 0
    assert main(["train", "--from", str(out), "--inherit-weights", *NB201_TRAIN, "--out", str(tmp_path / "tuned")]) == 0
    assert f"genotype: {result.genotype}" in capsys.readouterr().out
    for name in ("scratch", "tuned"):
        record = json.loads((tmp_path / name / "result.json").read_text())
        assert record["genotype"] == result.genotype and record["epochs"] == 1 and record["space"] == "nb201"
    tuned = json.loads((tmp_path / "tuned" / "result.json").read_text())
    assert tuned["config"]["inherit_weights"] and tuned["config"]["from_run"] == str(out)
    assert main(["train", "--from", str(out), "--inherit-weights", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["genotype"], printed["channels"]) == (result.genotype, result.config["channels"])


def test_fine_tuning_starts_from_the_inherited_network(nb201_run, tmp_path):
    """An epoch at lr ~ 0 leaves the inherited weights where the search left them."""
    result, out = nb201_run
    options = dict(epochs=1, lr=1e-12, weight_decay=0.0, drop_path=0.0, auxiliary_weight=0.0, batch_size=64)
    tuned = train(from_run=str(out), inherit_weights=True, dataset="digits", progress=False,
                  out_dir=str(tmp_path / "run"), **options)  # fmt: skip
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["network"]
    inherited = pyronas.load_run(out).network(plain=False).state_dict()
    assert tuned.epochs == 1 and state.keys() == inherited.keys()
    for key in ("stem.0.weight", "cells.0.edges.0.1.weight", "classifier.weight"):
        if key in state:
            torch.testing.assert_close(state[key], inherited[key], atol=1e-6, rtol=0, msg=key)
    assert tuned.params == sum(v.numel() for k, v in inherited.items() if "running" not in k and "tracked" not in k)
