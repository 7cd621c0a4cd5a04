"""Every bad setting is one line naming the setting, the value and what is allowed: from Python, YAML and JSON
files and the command line; ``--print-config``'s output, fed back, resolves the same without a warning."""

import json
import subprocess
import sys
import warnings

import pytest
import yaml

from pyronas.api import search
from pyronas.cli import main
from pyronas.registry import METHODS

BAD = [  # (settings, the setting named, what the message says)
    ({"epochs": "one"}, "epochs", "must be an integer"),
    ({"epochs": "2"}, "epochs", "must be an integer"),
    ({"epochs": True}, "epochs", "must be an integer"),
    ({"arch_lr": "fast"}, "arch_lr", "must be a number"),
    ({"batch_size": 0}, "batch_size", "must be an integer >= 1"),
    ({"seed": None}, "seed", "must be an integer"),
    ({"dataset": "mnist"}, "dataset", "one of: digits, cifar10"),
    ({"valid_batches": "sometimes"}, "valid_batches", "one of: epoch, random"),
    ({"progressive": 1}, "progressive", "true or false"),
    ({"method_options": {"kl_weight": "heavy"}}, "kl_weight", "must be a number"),
]


@pytest.mark.parametrize("settings, name, what", BAD)
def test_a_bad_value_from_python_is_one_line(settings, name, what):
    with pytest.raises(ValueError) as error:
        search(**settings)
    message = str(error.value)
    assert "\n" not in message and name in message and what in message


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize("settings, name, what", BAD)
def test_a_bad_value_in_a_config_file_is_one_line(settings, name, what, suffix, tmp_path, capsys):
    path = tmp_path / f"run{suffix}"
    path.write_text(yaml.safe_dump(settings) if suffix == ".yaml" else json.dumps(settings))
    assert main(["search", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pyronas search: error: ") and name in err and what in err


@pytest.mark.parametrize(
    "argv, name",
    [(["--epochs", "one"], "--epochs"), (["--batch-size", "0"], "batch_size"), (["--dataset", "mnist"], "--dataset"),
     (["--option", "kl_weight=heavy"], "kl_weight"), (["--option", "nonsense=1"], "nonsense")],
)  # fmt: skip
def test_a_bad_value_on_the_command_line_is_one_line(argv, name, capsys):
    try:
        code = main(["search", *argv])
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("pyronas search: error: ") and name in err


def test_a_bad_training_value_is_one_line(tmp_path, capsys):
    path = tmp_path / "train.yaml"
    path.write_text("genotype: DARTS_V2\nepochs: many\n")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "epochs = 'many' is not valid: it must be an integer" in err


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize(
    "argv", [["--method", "drnas", "--progressive", "--option", "kl_weight=1"], ["--method", "darts"]]
)
def test_print_config_fed_back_resolves_the_same(argv, suffix, tmp_path, capsys):
    assert main(["search", *argv, "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["method_options"]) == set(METHODS[printed["method"]].options())  # the options it will use
    path = tmp_path / f"printed{suffix}"
    path.write_text(yaml.safe_dump(printed) if suffix == ".yaml" else json.dumps(printed))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TyroWarning about the file's values
        assert main(["search", "--config", str(path), "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out) == printed


def test_a_bad_option_is_refused_before_torch_is_imported():
    probe = (
        "import sys\n"
        "from pyronas.cli import main\n"
        "try:\n"
        "    main(['search', '--epochs', 'abc'])\n"
        "except SystemExit as stop:\n"
        "    print(stop.code, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert "--epochs 'abc' needs an integer" in done.stderr


def test_the_torch_free_names_are_those_of_the_registries():
    from pyronas import names
    from pyronas.proxies import PROXIES
    from pyronas.spaces.darts_genotype import GENOTYPES

    assert names.PROXIES == tuple(PROXIES) and names.GENOTYPES == tuple(GENOTYPES)
