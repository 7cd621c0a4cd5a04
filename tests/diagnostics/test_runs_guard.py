"""Searches that cannot be chains of one posterior are refused with a one-line reason."""

import dataclasses
import re
import shutil

import pytest

from pyronas.cli import main
from pyronas.diagnostics import from_runs, load_run
from pyronas.diagnostics.runs import check_chains, load_chains
from pyronas.spaces import get_space


def _report_error(capsys, *paths) -> str:
    assert main(["report", *map(str, paths), "--draws", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyronas report: error:") and len(err.splitlines()) == 1
    return err


def test_the_same_folder_twice_is_refused(drnas_runs, capsys):
    s0, s1 = drnas_runs[:2]
    assert "is given twice; pass each search once" in _report_error(capsys, s0, s1, s0)
    respelled = s0.parent / ".." / s0.parent.name / s0.name  # another spelling of the same folder
    err = _report_error(capsys, s0, respelled)
    assert f"search folder {s0.resolve()} is given twice ({s0} and {respelled})" in err


def test_a_copied_search_is_refused(drnas_runs, tmp_path):
    copy = tmp_path / "copy-of-s0"
    shutil.copytree(drnas_runs[0], copy)
    with pytest.raises(ValueError, match=re.escape(f"{copy} holds the same search as {drnas_runs[0]}")):
        from_runs([drnas_runs[0], drnas_runs[1], copy], num_draws=5)


def test_same_settings_with_another_history_are_two_chains(drnas_runs):
    run = load_run(drnas_runs[0])
    history = [dict(record, train_loss=record["train_loss"] + 1.0) for record in run.history]
    other = dataclasses.replace(run, path=run.path.parent / "elsewhere", history=history)
    check_chains([run, other])  # e.g. the same seed on another data folder: not a copy


def test_mixed_methods_are_refused(drnas_runs, darts_run, capsys):
    err = _report_error(capsys, drnas_runs[0], darts_run)
    assert "searches of different methods cannot be chains of one posterior" in err
    assert f"{drnas_runs[0]} is drnas, {darts_run} is darts; report each method separately" in err


def test_mixed_spaces_are_refused(drnas_runs):
    run = load_run(drnas_runs[1])
    darts_space = dataclasses.replace(
        run, path=run.path.parent / "darts-space", config={**run.config, "space": "darts"}, space=get_space("darts")
    )
    with pytest.raises(ValueError, match="searches in different spaces cannot be chains of one posterior"):
        check_chains([load_run(drnas_runs[0]), darts_space])


def test_distinct_searches_of_one_method_pass(drnas_runs):
    runs = load_chains(drnas_runs)
    assert [run.seed for run in runs] == [0, 1, 2]
    with pytest.raises(ValueError, match="no search folders given"):
        load_chains([])


def test_no_runs_is_one_line():
    with pytest.raises(ValueError, match="^no search folders given$"):
        check_chains([])
