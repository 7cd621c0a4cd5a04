"""A run continues, extends and reruns from its folder alone (pyronas.run_settings), for searches and trainings,
from the command line and from Python."""

import json
import math
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

import pyronas.train
from pyronas.api import search
from pyronas.cli import main
from pyronas.config import SearchConfig
from pyronas.infer.search import Search
from pyronas.run_settings import SEARCH, continue_search, stored_run
from pyronas.train import train
from pyronas.train_config import TrainConfig

CELL = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
SETTINGS = {
    "search": dict(epochs=2, channels=4, cells_per_stage=1, train_size=64, batch_size=32, progress=False),
    "train": dict(genotype=CELL, space="nb201", dataset="digits", epochs=2, channels=4, cells_per_stage=1,
                  batch_size=32, train_size=64, test_size=64, progress=False),
}  # fmt: skip
CHANGED = {"search": ("arch_lr", 0.01, "--arch-lr 0.01", 0.04), "train": ("lr", 0.5, "--lr 0.5", 0.1)}
WRITING = ("out_dir", "resume", "overwrite", "progress")  # where a run was written; equal runs differ only there
PER_CALL = ("seconds", "steps")  # wall-clock time, and a training's steps taken by the call that wrote the result
KINDS = ["search", "train"]
VIAS = ["cli", "python"]


def flags(settings: dict) -> list[str]:
    out = []
    for name, value in settings.items():
        if name == "progress":
            out += [] if value else ["--quiet"]
        elif value is True:
            out.append("--" + name.replace("_", "-"))
        else:
            out += ["--" + name.replace("_", "-"), str(value)]
    return out


def run(kind: str, via: str, out, *, stop: int | None = None, resume: bool = False, **settings) -> str:
    """Run ``pyronas KIND`` (or its Python function) into ``out``; ``stop``: Ctrl-C when epoch ``stop`` (0-based)
    would start. Returns the message of the interrupt or refusal ('' when the run ended)."""
    where = dict(out_dir=str(out), resume=True) if resume else dict(out_dir=str(out))
    with pytest.MonkeyPatch.context() as patch:
        if stop is not None:
            _interrupt_at(patch, kind, stop)
        if via == "cli":
            argv = [kind, "--out", str(out), *(["--resume"] if resume else []), *flags(settings)]
            code = main(argv)
            return "" if code == 0 else f"{code}"
        try:
            (search if kind == "search" else train)(**settings, **where)
        except (KeyboardInterrupt, ValueError) as e:
            return str(e) or type(e).__name__
    return ""


def _interrupt_at(patch: pytest.MonkeyPatch, kind: str, stop: int) -> None:
    if kind == "search":
        original = Search._epoch

        def epoch(self):
            if self.epoch == stop:
                raise KeyboardInterrupt
            return original(self)

        patch.setattr(Search, "_epoch", epoch)
    else:
        original = pyronas.train._epoch

        def epoch(net, optimizer, batches, test, index, *args, **kwargs):
            if index == stop:
                raise KeyboardInterrupt
            return original(net, optimizer, batches, test, index, *args, **kwargs)

        patch.setattr(pyronas.train, "_epoch", epoch)


def _no_times(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "seconds"}


def _settings(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in WRITING}


def _same(a, b, where: str = "") -> None:
    """Assert two checkpoint states equal, tensor by tensor (``where`` names the entry that differs)."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b or repr(a) == repr(b), f"{where}: {a!r} != {b!r}"


def assert_same_run(first, second) -> None:
    """Two run folders hold the same run: result.json, log.jsonl records and every checkpoint tensor, except
    wall-clock times and where each was written."""
    results = [json.loads((folder / "result.json").read_text()) for folder in (first, second)]
    for result in results:
        assert result["config"]["epochs"] >= 1  # the result exists and holds its settings
        for name in PER_CALL:
            result.pop(name, None)
        result["config"] = _settings(result["config"])
    assert results[0] == results[1]
    logs = [
        [_no_times(json.loads(line)) for line in (f / "log.jsonl").read_text().splitlines()] for f in (first, second)
    ]
    assert len(logs[0]) == results[0]["config"]["epochs"]
    assert logs[0] == logs[1]
    states = [torch.load(f / "checkpoint.pt", weights_only=False) for f in (first, second)]
    for state in states:
        assert state["epoch"] == results[0]["config"]["epochs"]
        state["config"] = _settings(state["config"])
        state["history"] = [_no_times(record) for record in state["history"]]
    _same(states[0], states[1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs shared by this module's tests, made once on first use: ``runs(kind, "whole")`` is an uninterrupted run
    of ``SETTINGS[kind]``, ``runs(kind, "extended")`` that run extended to 4 epochs in one go."""
    made = {}
    root = tmp_path_factory.mktemp("runs")

    def get(kind: str, name: str):
        if (kind, name) not in made:
            folder = root / f"{kind}-{name}"
            if name == "whole":
                assert run(kind, "python", folder, **SETTINGS[kind]) == ""
            else:
                shutil.copytree(get(kind, "whole"), folder)
                assert run(kind, "python", folder, resume=True, epochs=4) == ""
            made[kind, name] = folder
        return made[kind, name]

    return get


def copy(folder, to):
    shutil.copytree(folder, to)
    return to


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("kind", KINDS)
def test_an_interrupted_run_resumed_from_its_folder_alone_equals_an_uninterrupted_one(
    kind, via, tmp_path, runs, capsys
):
    cut = tmp_path / "cut"
    stopped = run(kind, via, cut, stop=1, **SETTINGS[kind])
    if via == "cli":  # the message gives the whole command
        assert stopped == "130"
        assert f"(continue with pyronas {kind} --out {cut} --resume)" in capsys.readouterr().err
    else:
        assert stopped.endswith("(continue with resume=True)")
    assert torch.load(cut / "checkpoint.pt", weights_only=False)["epoch"] == 1
    assert not (cut / "result.json").exists()
    assert run(kind, via, cut, resume=True) == ""  # only the folder and resume
    assert_same_run(runs(kind, "whole"), cut)


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("kind", KINDS)
def test_an_extended_run_interrupted_and_resumed_equals_one_extended_in_one_go(kind, via, tmp_path, runs):
    # both runs are the same 2-epoch run extended to 4 epochs: runs(kind, "extended") in one go, this one
    # interrupted after epoch 3 and resumed from its folder alone (the checkpoint of epoch 3 holds the extension)
    cut = copy(runs(kind, "whole"), tmp_path / "cut")
    assert run(kind, via, cut, resume=True, epochs=4, stop=3) != ""
    assert torch.load(cut / "checkpoint.pt", weights_only=False)["epoch"] == 3
    assert run(kind, via, cut, resume=True) == ""
    once = runs(kind, "extended")
    assert_same_run(once, cut)
    result = json.loads((once / "result.json").read_text())
    assert result["extended"] == [{"epochs_before": 2, "at_epoch": 2, "epochs": 4}]
    log = [json.loads(line) for line in (once / "log.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in log] == [1, 2, 3, 4]
    rate, rate_min = ("weight_lr", 0.001) if kind == "search" else ("lr", 0.0)
    top = log[0][rate]
    respanned = [rate_min + (top - rate_min) * (1 + math.cos(math.pi * epoch / 4)) / 2 for epoch in (2, 3)]
    assert [record[rate] for record in log[2:]] == pytest.approx(respanned)  # the 4-epoch cosine from epoch 2 on


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_setting_that_differs_from_the_runs_is_refused_by_name(kind, via, tmp_path, runs, capsys):
    folder = copy(runs(kind, "whole"), tmp_path / "run")
    before = (folder / "checkpoint.pt").stat().st_mtime_ns
    name, value, flag, old = CHANGED[kind]
    refused = run(kind, via, folder, resume=True, **{name: value})
    shorter = run(kind, via, folder, resume=True, epochs=1)
    if via == "cli":
        assert (refused, shorter) == ("2", "2")
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 2
        refused, shorter = lines
        assert f"{flag} differs from the run's {old}; drop it to resume, or start a new run with --out NEW" in refused
        assert "--epochs 1 is fewer than the run's 2" in shorter
    else:
        assert f"{name}={value} differs from the run's {old}; drop it to resume" in refused
        assert "out_dir='NEW'" in refused
        assert "epochs=1 is fewer than the run's 2" in shorter
    assert (folder / "checkpoint.pt").stat().st_mtime_ns == before  # nothing ran
    # settings that do not change the trajectory may be given, and so may the run's own values
    assert run(kind, via, folder, resume=True, device="cpu", progress=False, epochs=2, **{name: old}) == ""
    assert_same_run(runs(kind, "whole"), folder)


@pytest.mark.parametrize("form", ["folder", "result.json", "checkpoint.pt"])
@pytest.mark.parametrize("kind", KINDS)
def test_config_of_a_run_reproduces_its_resolved_settings(kind, form, tmp_path, runs, capsys):
    folder = runs(kind, "whole")
    source = folder if form == "folder" else folder / form
    assert main([kind, "--config", str(source), "--out", str(tmp_path / "new"), "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    state = torch.load(folder / "checkpoint.pt", weights_only=False)
    assert "resume_key" in state and state["config"]["epochs"] == 2
    if kind == "search":
        config = SearchConfig.from_json(printed)  # nested sections or flat
        assert config["epochs"] == 2 and config["out_dir"] == str(tmp_path / "new")
        ours, theirs = config.resume_key(), dict(state["resume_key"])
        # --print-config spells out the method's default options beside those the run was given
        assert ours.pop("method_options").items() >= theirs.pop("method_options").items()
        assert ours == theirs
    else:
        assert printed["epochs"] == 2 and printed["out_dir"] == str(tmp_path / "new")
        ours = {k: v for k, v in printed.items() if k not in ("cutout", "version")}
        assert TrainConfig.from_json(ours).replace(cutout=state["config"]["cutout"]).resume_key() == state["resume_key"]


def test_config_of_a_run_folder_reruns_it(tmp_path, runs):
    assert main(["search", "--config", str(runs("search", "whole")), "--out", str(tmp_path / "new"), "--quiet"]) == 0
    assert_same_run(runs("search", "whole"), tmp_path / "new")


def test_a_progressive_runs_added_epochs_go_to_its_last_stage(tmp_path):
    settings = {**SETTINGS["search"], "epochs": 2, "progressive": True}
    assert run("search", "python", tmp_path, **settings) == ""
    stages = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["config"]["stages"]
    assert [stage["epochs"] for stage in stages] == [1, 1]
    extended, continuation = continue_search(stored_run(tmp_path, SEARCH), {"epochs": 5})
    assert [stage["epochs"] for stage in extended["stages"]] == [1, 4]
    assert [stage["keep_ops"] for stage in extended["stages"]] == [stage["keep_ops"] for stage in stages]
    assert extended["epochs"] == 5 and continuation.extended == [{"epochs_before": 2, "at_epoch": 2, "epochs": 5}]
    # retyping the original command with the larger --epochs extends the same way
    again, _ = continue_search(stored_run(tmp_path, SEARCH), {"progressive": True, "epochs": 5})
    assert again["stages"] == extended["stages"]


def test_ctrl_c_of_a_real_process_then_resume_alone(tmp_path, runs):
    """SIGINT to a running ``pyronas search`` after its first checkpoint; ``--out RUN --resume`` then finishes it."""
    out = tmp_path / "cut"
    command = [sys.executable, "-m", "pyronas", "search", "--out", str(out), *flags(SETTINGS["search"])]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    if process.returncode == 0:  # the search ended before the signal came: nothing to resume
        pytest.skip("the search finished before SIGINT")
    assert process.returncode == 130 and f"(continue with pyronas search --out {out} --resume)" in err
    assert torch.load(out / "checkpoint.pt", weights_only=False)["epoch"] == 1
    assert main(["search", "--out", str(out), "--resume"]) == 0
    assert_same_run(runs("search", "whole"), out)
