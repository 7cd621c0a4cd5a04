"""``pyronas train`` for a network of your own: ``--space package.module:factory --genotype '{label: candidate}'``
from scratch, and ``--from RUN --inherit-weights`` on a search of that network."""

import json

import pytest
import torch

import pyronas
from pyronas.api import search
from pyronas.cli import main
from pyronas.nn.export import torch_only
from pyronas.spaces import get_space
from pyronas.train import count_parameters, train

EXAMPLE = "pyronas.nn.examples:choice_convnet"
TRAIN = ["--dataset", "digits", "--epochs", "1", "--train-size", "64", "--batch-size", "32",
         "--drop-path", "0", "--auxiliary-weight", "0", "--cutout", "0", "--quiet"]  # fmt: skip


@pytest.mark.parametrize("kernel", ["conv1x1", "conv5x5"])
def test_cli_trains_a_genotype_of_your_own_network(kernel, tmp_path, capsys):
    genotype = {"depth": "block", "width": "8", "kernel": kernel}  # any label order; recorded in network order
    out = tmp_path / "run"
    assert main(["train", "--space", EXAMPLE, "--genotype", json.dumps(genotype), *TRAIN, "--out", str(out)]) == 0
    record = json.loads((out / "result.json").read_text())
    space = get_space(EXAMPLE)
    assert record["space"] == EXAMPLE and json.loads(record["genotype"]) == genotype
    assert record["genotype"] == space.validate(json.dumps(genotype))
    assert record["epochs"] == 1 and record["steps"] == 2
    fixed = space.network(record["genotype"], num_classes=10, in_channels=1)  # what runs, at width 8
    k2 = int(kernel[-1]) ** 2
    stem, blocks, head = 8 * 9 + 2 * 8, 8 * 16 * k2 + 16 * 16 * k2 + 2 * 2 * 16, 16 * 16 * 9 + 2 * 16 + 16 * 10 + 10
    assert record["params"] == count_parameters(fixed) == stem + blocks + head < 20_794  # every candidate: 20,794
    state = torch.load(out / "checkpoint.pt", weights_only=False)["network"]
    kernels = {v.shape[-1] for k, v in state.items() if v.dim() == 4 and ".candidates." in k}
    assert kernels == {int(kernel[-1]), 3}  # the kernel chosen (two blocks), and the depth block's 3x3
    assert f"genotype: {record['genotype']}" in capsys.readouterr().out


def test_recipe_options_a_network_of_your_own_lacks_default_to_off_and_are_refused_by_flag(tmp_path, capsys):
    genotype = '{"width": "16", "kernel": "conv3x3", "depth": "skip"}'
    plain = ["--dataset", "digits", "--epochs", "1", "--train-size", "64", "--batch-size", "32", "--quiet"]
    argv = ["train", "--space", EXAMPLE, "--genotype", genotype, *plain, "--out", str(tmp_path / "ok")]
    assert main(argv) == 0  # no drop-path or auxiliary flags needed: off where the network has none
    record = json.loads((tmp_path / "ok" / "result.json").read_text())
    assert (record["config"]["drop_path"], record["config"]["auxiliary_weight"]) == (0.0, 0.0)
    assert "held-out accuracy" in capsys.readouterr().out and record["test_split"].startswith("held out: 359 of")
    argv = ["train", "--space", EXAMPLE, "--genotype", genotype, "--dataset", "digits", "--out", str(tmp_path / "x")]
    assert main([*argv, "--drop-path", "0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "has no drop-path: leave --drop-path out" in err and not (tmp_path / "x").exists()
    assert main([*argv, "--auxiliary-weight", "0.4"]) == 2
    assert "has no auxiliary head: leave --auxiliary-weight out" in capsys.readouterr().err
    with pytest.raises(ValueError, match="leave drop_path out"):  # from Python, the argument's name
        train(genotype, space=EXAMPLE, dataset="digits", drop_path=0.2)
    with pytest.raises(ValueError, match="give its space, space='package.module:factory'"):
        train(genotype, dataset="digits")
    assert main(["train", "--space", EXAMPLE, "--genotype", '{"width": "4"}', *TRAIN]) == 2
    assert "missing 'depth', 'kernel'" in capsys.readouterr().err
    assert main(["train", "--genotype", genotype, *plain]) == 2
    assert "give its space, --space package.module:factory" in capsys.readouterr().err


def test_fine_tuning_an_own_network_search_starts_from_its_inherited_weights(tmp_path, capsys):
    out = tmp_path / "search"
    result = search("drnas", space=EXAMPLE, dataset="digits", epochs=1, train_size=64, batch_size=32,
                    out_dir=str(out), progress=False)  # fmt: skip
    assert main(["train", "--from", str(out), "--inherit-weights", *TRAIN, "--out", str(tmp_path / "cli")]) == 0
    record = json.loads((tmp_path / "cli" / "result.json").read_text())
    assert (record["space"], record["genotype"]) == (EXAMPLE, result.genotype)
    options = dict(epochs=1, lr=1e-12, weight_decay=0.0, drop_path=0.0, auxiliary_weight=0.0, cutout=0, batch_size=32)
    train(from_run=str(out), inherit_weights=True, dataset="digits", train_size=64, progress=False,
          out_dir=str(tmp_path / "tuned"), **options)  # fmt: skip
    state = torch.load(tmp_path / "tuned" / "checkpoint.pt", weights_only=False)["network"]
    inherited = pyronas.load_run(out).network().state_dict()  # torch_only: the chosen candidates only
    fresh = torch_only(get_space(EXAMPLE).network(result.genotype, num_classes=10, in_channels=1)).state_dict()
    assert state.keys() == inherited.keys()
    weights = [k for k in state if k.endswith("weight")]
    for key in weights:
        torch.testing.assert_close(state[key], inherited[key], atol=1e-6, rtol=0, msg=key)
    assert any(not torch.allclose(inherited[k], fresh[k]) for k in weights)  # inherited, not re-initialised
