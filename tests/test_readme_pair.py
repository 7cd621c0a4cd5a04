"""The README's "Writing a model + guide pair" runs as written: in this process on both spaces, and as an
installed plugin package (entry point ``pyronas.methods``) from the command line, searched and reported."""

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from pyronas.api import search
from pyronas.registry import METHODS, register
from pyronas.spaces import get_space
from pyronas.testing import check_method

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = dict(dataset="digits", train_size=64, batch_size=32, channels=4, cells_per_stage=1, epochs=1, progress=False)


def _section_blocks(language: str) -> list[str]:
    text = README.read_text()
    section = text.split("## Writing a model + guide pair", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def _module_source() -> str:
    return "\n".join(_section_blocks("python"))


def test_readme_pair_searches_both_spaces():
    module = types.ModuleType("readme_gumbel")
    exec(compile(_module_source(), "README.md", "exec"), module.__dict__)
    assert "gumbel" not in METHODS
    register(module.SPEC)
    try:
        for space in ("nb201", "darts"):
            result = search("gumbel", space=space, arch_lr=0.05, **TINY)
            assert get_space(space).validate(result.genotype) == result.genotype
            for edges in result.op_probabilities.values():
                probs = torch.tensor([list(p.values()) for p in edges.values()])
                assert torch.allclose(probs.sum(-1), torch.ones(len(probs)), atol=1e-4)
                assert (probs.max(-1).values - probs.min(-1).values).min() > 0, "no ties between ops"
    finally:
        del METHODS["gumbel"]


def test_readme_pairs_pass_the_method_test_kit():
    module = types.ModuleType("readme_gumbel")
    exec(compile(_module_source(), "README.md", "exec"), module.__dict__)
    try:
        module.test_gumbel_pairs_meet_the_contract()  # the README's own test, as written
        report = check_method(module.LEARNED, space="darts")
        assert "model.prior.temperature_unconstrained" in report["parameters"]  # exists, and it moved (checked)
    finally:
        for name in ("gumbel", "gumbel-learned"):
            METHODS.pop(name, None)


def _install_plugin(site: Path) -> None:
    """The README's module as package ``my_methods``, with the entry point of its ``pyproject.toml`` block."""
    (site / "my_methods").mkdir(parents=True)
    (site / "my_methods" / "__init__.py").write_text("")
    (site / "my_methods" / "gumbel.py").write_text(_module_source())
    (toml,) = _section_blocks("toml")
    name, value = re.search(r'^(\w+) = "(.+)"$', toml, flags=re.M).groups()
    info = site / "my_methods-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-methods\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[pyronas.methods]\n{name} = {value}\n")


@pytest.mark.slow
def test_plugin_package_is_searched_and_reported_from_the_command_line(tmp_path):
    site = tmp_path / "site"
    _install_plugin(site)
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1")

    def pyronas(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pyronas", *args], env=env, capture_output=True, text=True)

    listed = pyronas("methods")
    assert listed.returncode == 0 and "gumbel: Gumbel-softmax op choice" in listed.stdout
    assert "temperature=1.0" in listed.stdout and "drnas:" in listed.stdout
    out = tmp_path / "run"
    tiny = ["--epochs", "2", "--train-size", "64", "--batch-size", "32", "--channels", "4", "--cells-per-stage", "1"]
    searched = pyronas("search", "--method", "gumbel", "--quiet", *tiny, "--out", str(out))
    assert searched.returncode == 0, searched.stderr
    assert json.loads((out / "result.json").read_text())["method"] == "gumbel"
    reported = pyronas("report", str(out), "--draws", "20", "--out", str(tmp_path / "report"))
    assert reported.returncode == 0, reported.stderr
    assert json.loads((tmp_path / "report" / "summary.json").read_text())
    assert pyronas("search", "--method", "nope", "--out", str(tmp_path / "x")).returncode == 2
