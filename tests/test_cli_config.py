"""The CLI derived from the config by tyro: the flags, --help, --print-config, --config files (JSON, YAML),
`pyronas methods`, one line per epoch."""

import dataclasses
import json
import re

import pytest
import tyro

from pyronas.cli import main, parse_args
from pyronas.cli_options import MARKERS, REGISTRY, flatten, parse, search_options, share_of, train_options
from pyronas.config import FIELDS, SearchConfig, option
from pyronas.registry import METHODS
from pyronas.train_config import TrainConfig


def test_print_config_shows_the_resolved_settings(capsys):
    assert main(["search", "--method", "balenas", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["version"] == 2 and printed["method"] == "balenas"
    assert printed["arch_optim"] == "ngvi" and printed["arch_lr"] == 0.01
    assert printed["epochs"] == 20 and printed["channels"] == 8  # the digits demo


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


def test_yaml_config_file_under_the_options(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("method: bayesnas\nschedule:\n  epochs: 3\nruntime:\n  seed: 4\n  out_dir: runs/from-file\n")
    assert main(["search", "--config", str(path), "--seed", "5", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["method"] == "bayesnas" and printed["epochs"] == 3
    assert printed["seed"] == 5  # the command line wins over the file
    assert printed["out_dir"] == "runs/from-file"  # --out's command-line default does not replace it
    path.write_text("genotype: DARTS_V2\nepochs: 7\n")
    assert main(["train", "--config", str(path), "--cutout", "0", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["space"], printed["epochs"], printed["cutout"], printed["out_dir"]) == ("darts", 7, 0, "runs/train")
    assert printed["genotype"].startswith("Genotype(normal=") and printed["batch_size"] == 96  # resolved


def test_the_documented_flags_parse_into_the_config():
    argv = ["search", "--method", "darts", "--space", "darts", "--dataset", "digits", "--epochs", "3"]
    argv += ["--weight-lr", "0.1", "--arch-lr", "0.2", "--optim", "ngvi", "--out", "somewhere", "--quiet", "--resume"]
    argv += [
        "--option",
        "kl_weight=0.5",
        "--option",
        "name=x",
        "--select",
        "valid",
        "--samples",
        "7",
        "--no-distributed",
    ]
    c = parse_args(argv).settings
    assert (c.method, c.space, c["dataset"], c["epochs"], c["weight_lr"], c["arch_lr"]) == (
        "darts",
        "darts",
        "digits",
        3,
        0.1,
        0.2,
    )
    assert (c["arch_optim"], c["out_dir"], c["progress"], c["resume"]) == ("ngvi", "somewhere", False, True)
    assert c.method_options == {"kl_weight": 0.5, "name": "x"}
    assert (c["select"], c["samples"], c["distributed"]) == ("valid", 7, False)
    untouched = parse_args(["search"]).settings
    assert untouched == SearchConfig().replace(out_dir="runs/search")  # None stays None for resolve()


def test_bad_options_exit_with_code_2(capsys):
    for argv in (["search", "--bogus"], ["search", "--option", "novalue"], ["nothing"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2, argv
    assert main(["search", "--optim", "sgd"]) == 2  # a pyro.optim name is checked where pyro is loaded
    assert "unknown architecture optimizer 'sgd'; choose one of: adam, ngvi" in capsys.readouterr().err


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "command, fields", [("search", list(FIELDS.values())), ("train", dataclasses.fields(TrainConfig))]
)
def test_help_shows_every_flag_and_each_default_once(command, fields, capsys):
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", _help([command], capsys)).split())  # tyro's boxes wrap the lines
    assert "None" not in text  # defaults that resolve() fills say so in their own words
    expected = 0
    for f in fields:
        if not f.metadata["cli"]:
            assert f"--{f.name.replace('_', '-')} " not in text
            continue
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        assert f"{flag} " in text or f"{flag}," in text, flag
        default = f.metadata["cli_default"] or f.default
        shown = default is not None and not isinstance(default, (bool, dict)) and default is not dataclasses.MISSING
        expected += shown + f.metadata["help"].count("(default:")
        if shown:
            assert f"(default: {default})" in text, flag
    assert text.count("(default:") == expected


def test_a_new_config_field_becomes_a_flag():
    @dataclasses.dataclass(frozen=True)
    class Guarded:
        overwrite: bool = option(False, "replace what the folder holds")
        budget: int | None = option(None, "steps (default: all)")

    assert tyro.cli(Guarded, args=["--overwrite", "--budget", "3"], config=MARKERS, registry=REGISTRY) == Guarded(
        True, 3
    )


def test_a_script_takes_its_share_of_the_search_options_with_its_own_defaults(capsys):
    options = search_options(channels=16, epochs=3, method_options={})

    @dataclasses.dataclass(frozen=True)
    class Script:
        search: options = dataclasses.field(default_factory=options)
        rounds: int = option(2, "alternations")

    args = parse(Script, ["--epochs", "5", "--option", "kl_weight=0.5", "--rounds", "4"])
    assert flatten(args) == {"channels": 16, "epochs": 5, "method_options": {"kl_weight": 0.5}, "rounds": 4}
    with pytest.raises(SystemExit):
        parse(Script, ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "C, channels of the first stage (default: 16)" in text and "8 on digits" not in text  # its default, once
    with pytest.raises(SystemExit):
        parse(Script, ["--method", "darts"])  # not its share


def test_a_script_takes_its_share_of_the_train_options(capsys):
    options = train_options(epochs=12, lr=0.1, train_size=25_000)
    args = parse(options, ["--lr", "0.05"])
    assert dataclasses.asdict(args) == {"epochs": 12, "lr": 0.05, "train_size": 25_000}
    with pytest.raises(SystemExit):
        parse(options, ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "training images (a seeded subset; default: 25000)" in text  # the script's default replaces 'all'
    assert "--cutout" not in text  # only the options it takes


def test_a_script_takes_its_share_of_another_commands_options(capsys):
    from pyronas.cli import ProxiesArgs

    options = share_of(ProxiesArgs, batch_size=32, seed=0)
    assert dataclasses.asdict(parse(options, ["--seed", "3"])) == {"batch_size": 32, "seed": 3}
    with pytest.raises(SystemExit):
        parse(options, ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "images of the scoring batch (default: 32)" in text and "--proxies" not in text


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--method", "nosuch"], "--method 'nosuch' is not a choice; choose one of: balenas, bayesnas, darts, drnas"),
        (["--dataset", "imagenet"], "--dataset 'imagenet' is not a choice; choose one of: digits, cifar10"),
        (["--epochs", "abc"], "--epochs 'abc' needs an integer"),
        (["--weight-lr", "fast"], "--weight-lr 'fast' needs a number"),
        (["--option", "kl_weight"], "--option 'kl_weight' needs KEY=VALUE"),
        (["--amp", "fp8"], "--amp 'fp8' is not a choice; choose one of: bf16, fp16"),
        (["--optim", "sgd"], "unknown architecture optimizer 'sgd'; choose one of: adam, ngvi, ASGD"),
        (["--elbo", "nosuch"], "unknown ELBO 'nosuch'; choose one of: trace, meanfield"),
        (["--elbo-args", "[1]"], "--elbo-args '[1]' needs a JSON object"),
        (["--optim-args", "{lr: 1}"], "--optim-args '{lr: 1}' needs a JSON object"),
        (["--epochs"], "--epochs needs a value (an integer)"),
        (["--bogus"], "unrecognized argument(s): --bogus; see pyronas search --help"),
        (["--epoch", "3"], "unrecognized argument(s): --epoch 3; did you mean --epochs?"),
        (["--quite"], "unrecognized argument(s): --quite; did you mean --quiet?"),
    ],
)
def test_parse_errors_are_one_line_naming_flag_value_and_choices(argv, expected, capsys):
    try:  # the parser refuses it (exit), or the resolution where the plugin lists are loaded (return code)
        code = main(["search", *argv])
    except SystemExit as stop:
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"pyronas search: error: {expected}"), err
    assert "None" not in err


def test_other_commands_parse_errors_are_one_line(capsys):
    for argv, expected in (
        (["nothing"], "pyronas: error: unrecognized argument(s): nothing"),
        (["lookup"], "pyronas lookup: error: missing CELL"),
        ([], "pyronas: error: choose a command: search, train, methods"),
    ):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.count("\n") == 1 and err.startswith(expected), err


def test_every_inference_choice_parses_and_resolves(capsys):
    argv = ["search", "--elbo", "RenyiELBO", "--elbo-args", '{"alpha": 0.5}', "--optim", "ClippedAdam"]
    argv += ["--optim-args", '{"lr": 0.01, "clip_norm": 5}', "--weight-optim", "Adam"]
    argv += ["--weight-optim-args", '{"betas": [0.9, 0.99]}', "--method", "balenas", "--guide", "AutoNormal"]
    argv += ["--guide-args", '{"init_scale": 0.05}']
    c = parse_args(argv).settings
    assert (c["elbo"], c["elbo_args"], c["arch_optim"], c["arch_optim_args"]) == (
        "RenyiELBO",
        {"alpha": 0.5},
        "ClippedAdam",
        {"lr": 0.01, "clip_norm": 5},
    )
    assert (c["weight_optim"], c["weight_optim_args"], c.guide, c.guide_args) == (
        "Adam",
        {"betas": [0.9, 0.99]},
        "AutoNormal",
        {"init_scale": 0.05},
    )
    assert main([*argv, "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    # the rates move into their own settings; ClippedAdam's own weight decay (0), not DARTS' Adam's
    assert {k: printed[k] for k in ("arch_optim", "arch_optim_args", "arch_lr", "arch_weight_decay")} == {
        "arch_optim": "ClippedAdam", "arch_optim_args": {"clip_norm": 5}, "arch_lr": 0.01,
                               "arch_weight_decay": 0}  # fmt: skip
    assert printed["weight_optim"] == "Adam" and printed["elbo_args"] == {"alpha": 0.5}
    new = ("elbo_args", "arch_optim_args", "weight_optim_args", "guide_args")
    assert all(SearchConfig()[k] == {} for k in new)
    assert not set(new) & set(SearchConfig().resume_key())  # runs made before them still resume
