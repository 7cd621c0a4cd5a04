"""The README's "Searching a network of your own" runs as written: its Python blocks in this process (searches
shrunk to tiny settings), every built-in method on its network from Python and from the command line, and its
package installed as a plugin (entry point ``pyronas.spaces``) driven by its shell block."""

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pyronas.api
from pyronas.cli import main
from pyronas.nn.export import pyronas_modules
from pyronas.registry import METHODS
from pyronas.spaces import get_space

README = Path(__file__).resolve().parents[1] / "README.md"
PACKAGE = "# my_nets/cnn.py\n"  # first line of the block that is the package's module
FACTORY = "my_nets.cnn:small_cnn"
BUILT_IN = ("balenas", "bayesnas", "darts", "drnas", "pgnas")
REFUSALS: dict[str, str] = {}  # method -> its one-line refusal of a network of your own; none refuses today
TINY = dict(train_size=64, batch_size=32, epochs=1, progress=False)
CLI_TINY = {
    "search": ["--train-size", "64", "--batch-size", "32", "--epochs", "1", "--quiet"],
    "train": ["--train-size", "64", "--batch-size", "32", "--epochs", "1", "--quiet"],
    "report": ["--draws", "20"],
}  # appended to the README's commands: the last of a repeated flag wins


def _section_blocks(language: str) -> list[str]:
    section = README.read_text().split("## Searching a network of your own", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def _package_source() -> str:
    (source,) = [block for block in _section_blocks("python") if block.startswith(PACKAGE)]
    return source


def _scripts() -> list[str]:
    return [block for block in _section_blocks("python") if not block.startswith(PACKAGE)]


def _install(site: Path, *, plugin: bool) -> None:
    """The README's package ``my_nets`` in ``site``; with ``plugin``, the entry point of its ``pyproject.toml``."""
    (site / "my_nets").mkdir(parents=True)
    (site / "my_nets" / "__init__.py").write_text("")
    (site / "my_nets" / "cnn.py").write_text(_package_source())
    if plugin:
        (toml,) = _section_blocks("toml")
        group = re.search(r'^\[project\.entry-points\."([\w.]+)"\]$', toml, flags=re.M).group(1)
        name, value = re.search(r'^([\w-]+) = "(.+)"$', toml, flags=re.M).groups()
        info = site / "my_nets-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-nets\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {value}\n")


@pytest.fixture
def package(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _install(site, plugin=False)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [m for m in sys.modules if m == "my_nets" or m.startswith("my_nets.")]:
        del sys.modules[name]


def test_readme_python_blocks_run_as_written(package, tmp_path, monkeypatch):
    searched = []

    def tiny_search(method, **settings):
        searched.append(method)
        return search(method, **{**settings, **TINY})

    search = pyronas.api.search
    monkeypatch.setattr(pyronas.api, "search", tiny_search)  # the blocks' `from pyronas.api import search`
    monkeypatch.chdir(tmp_path)  # the blocks write runs/... and a figure
    for block in _scripts():
        namespace = {"__name__": "__main__"}
        exec(compile(block, "README.md", "exec"), namespace)
    assert searched == ["drnas", "drnas", "balenas"]  # the opening example, then the worked one's two methods

    space = get_space(FACTORY)
    assert space.name == FACTORY
    for method, result in namespace["results"].items():
        assert result.method == method and space.validate(result.genotype) == result.genotype
        probs = result.op_probabilities
        assert {table: set(labels) for table, labels in probs.items()} == {
            "choices2": {"width", "depth"},
            "choices3": {"kernel"},
        }
        assert set(probs["choices3"]["kernel"]) == {"conv1x1", "conv3x3", "conv5x5"}
        assert math.isclose(sum(probs["choices2"]["width"].values()), 1.0, abs_tol=1e-4)
        assert (tmp_path / "runs" / f"cnn-{method}" / "result.json").is_file()
    assert (tmp_path / "cnn-drnas.png").stat().st_size > 0
    assert 0 < namespace["idata"].posterior.sizes["draw"] == 200

    net, loss = namespace["net"], namespace["loss"]
    assert pyronas_modules(net) == {} and math.isfinite(loss.item())
    exported = namespace["results"]["drnas"].network()  # what the fine-tuning started from
    kernel = json.loads(namespace["results"]["drnas"].genotype)["kernel"]
    convs = {k: v for k, v in exported.state_dict().items() if v.dim() == 4 and ".candidates." in k}
    assert {v.shape[-1] for k, v in convs.items() if not k.startswith("6.")} == {int(kernel[-1])}
    tuned = net.state_dict()
    assert tuned.keys() == exported.state_dict().keys()
    assert any(not torch.allclose(tuned[k], v) for k, v in convs.items())  # the fine-tuning moved the weights


@pytest.mark.parametrize("method", BUILT_IN)
def test_every_built_in_method_searches_the_readme_network(method, package):
    assert method in METHODS
    if method in REFUSALS:
        with pytest.raises(ValueError, match=REFUSALS[method]):
            pyronas.api.search(method, space=FACTORY, dataset="digits", **TINY)
        return
    result = pyronas.api.search(method, space=FACTORY, dataset="digits", **TINY)
    assert get_space(FACTORY).validate(result.genotype) == result.genotype
    assert set(json.loads(result.genotype)) == {"width", "kernel", "depth"}


def _env(site: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1")


@pytest.mark.parametrize("method", BUILT_IN)
def test_every_built_in_method_searches_the_readme_network_from_the_command_line(method, package, tmp_path, capsys):
    argv = ["search", "--space", FACTORY, "--method", method, *CLI_TINY["search"], "--out", str(tmp_path / "run")]
    code = main(argv)  # the CLI in this process; a fresh one runs it below and in the plugin test
    if method in REFUSALS:
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and REFUSALS[method] in err
        return
    assert code == 0
    record = json.loads((tmp_path / "run" / "result.json").read_text())
    assert (record["method"], record["space"]) == (method, FACTORY)
    assert get_space(FACTORY).validate(record["genotype"]) == record["genotype"]


def _env(site: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1")


def test_python_m_pyronas_cli_searches_a_factory_path(package, tmp_path):
    argv = ["search", "--space", FACTORY, "--method", "drnas", *CLI_TINY["search"], "--out", str(tmp_path / "run")]
    done = subprocess.run([sys.executable, "-m", "pyronas.cli", *argv], env=_env(package), capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "result.json").read_text())["space"] == FACTORY


def _commands(block: str) -> list[list[str]]:
    """The ``pyronas`` commands of a shell block, continuation lines joined, as argument lists."""
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in lines if line.startswith(".venv/bin/pyronas ")]


@pytest.mark.slow
def test_readme_plugin_package_is_searched_reported_and_trained_from_the_command_line(tmp_path):
    site = tmp_path / "site"
    _install(site, plugin=True)
    (block,) = _section_blocks("bash")
    commands = _commands(block)
    assert [c[1] for c in commands] == ["search", "search", "search", "report", "train", "train"]
    # one fresh process (the plugin is found through its entry point) runs every command through the CLI's main
    driver = (
        "import json, sys\nfrom pyronas.cli import main\nfor argv in json.loads(sys.argv[1]):\n"
        "    code = main(argv)\n    if code:\n        sys.exit(f'{argv}: exit {code}')\n"
    )
    argvs = [[*command[1:], *CLI_TINY[command[1]]] for command in commands]
    done = subprocess.run([sys.executable, "-c", driver, json.dumps(argvs)], env=_env(site), cwd=tmp_path,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr

    runs = tmp_path / "runs"
    searched = {name: json.loads((runs / name / "result.json").read_text()) for name in ("cnn-s0", "cnn-balenas")}
    assert [r["method"] for r in searched.values()] == ["drnas", "balenas"]
    assert {r["space"] for r in searched.values()} == {"small-cnn"}  # the entry point's name
    summary = json.loads((runs / "cnn-report" / "summary.json").read_text())
    assert summary["chains"] == 2 and set(summary["edges"]["choices3"]["kernel"]["ops"]) == {"conv1x1", "conv3x3",
                                                                                           "conv5x5"}  # fmt: skip
    tuned = json.loads((runs / "cnn-tuned" / "result.json").read_text())
    assert tuned["genotype"] == searched["cnn-s0"]["genotype"] and tuned["config"]["inherit_weights"]
    scratch = json.loads((runs / "cnn-scratch" / "result.json").read_text())
    given = next(c[c.index("--genotype") + 1] for c in commands if "--genotype" in c)
    assert (scratch["space"], json.loads(scratch["genotype"])) == ("small-cnn", json.loads(given))
