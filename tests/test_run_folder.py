"""Run folders are never touched unless told: guard, --overwrite, the lock, temp files, Ctrl-C and divergence."""

import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch

import pyronas.build
import pyronas.train
from pyronas.cli import main
from pyronas.infer.claim import LOCK, RunLock

TINY = ["--quiet", "--epochs", "2", "--channels", "4", "--cells-per-stage", "1", "--train-size", "64"]
TINY += ["--batch-size", "32"]
CELL = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
TRAIN = ["--genotype", CELL, "--space", "nb201", "--dataset", "digits", "--drop-path", "0", "--auxiliary-weight", "0"]
TRAIN += ["--epochs", "1", "--max-steps", "2", "--channels", "4", "--cells-per-stage", "1", "--batch-size", "32"]
TRAIN += ["--train-size", "64", "--quiet"]
BAD_SEARCH = [
    [],  # the same command again, without --resume
    ["--weight-lr", "-1"],
    ["--weight-lr", "nan"],
    ["--weight-lr", "inf"],
    ["--arch-lr", "-1"],
    ["--weight-decay", "-1"],
    ["--channels", "0"],
    ["--cells-per-stage", "0"],
    ["--cells-per-stage", "-1"],
    ["--train-size", "-5"],
    ["--warmup-epochs", "3", "--epochs", "1"],
    ["--select", "proxy:nwot", "--samples", "0"],
    ["--select", "valid", "--samples", "0"],
    ["--option", "prior_concentration=abc"],
    ["--option", "prior_concentration=-1"],
    ["--device", "tpu"],
    ["--resume", "--overwrite"],
    ["--arch-lr", "0.1", "--optim-args", '{"lr": 0.01}'],  # the rate given twice
    ["--optim", "ClippedAdam", "--optim-args", '{"clip": 5}'],
    ["--optim", "Adam", "--optim-args", '{"lr": -1}'],
    ["--optim", "ngvi", "--optim-args", '{"weight_decay": 0.1}'],
    ["--weight-optim", "Adam", "--weight-optim-args", '{"momentum": 0.9}'],
    ["--elbo", "RenyiELBO", "--elbo-args", '{"beta": 1}'],
    ["--guide-args", '{"init_scale": 0.1}'],  # without --guide
    ["--guide", "AutoNothing"],
]
BAD_TRAIN = [[], ["--lr", "-1"], ["--lr", "nan"], ["--channels", "0"], ["--cells-per-stage", "0"], ["--device", "tpu"]]


def snapshot(folder):
    """``{relative path: (sha1, mtime_ns)}`` of every file below ``folder``."""
    return {
        str(p.relative_to(folder)): (hashlib.sha1(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_no_failing_command_changes_a_finished_run(tmp_path, capsys, monkeypatch):
    search_dir, train_dir = tmp_path / "search", tmp_path / "train"
    assert main(["search", *TINY, "--out", str(search_dir)]) == 0
    assert main(["train", *TRAIN, "--out", str(train_dir)]) == 0
    capsys.readouterr()
    before = snapshot(search_dir), snapshot(train_dir)
    assert {"checkpoint.pt", "log.jsonl", "result.json"} <= set(before[0])

    def refuse(*args, **kwargs):
        raise AssertionError("a bad command got as far as loading data")

    monkeypatch.setattr(pyronas.build, "load_dataset", refuse)
    monkeypatch.setattr(pyronas.train, "load_dataset", refuse)
    bad = [("search", TINY, extra, search_dir) for extra in BAD_SEARCH]
    bad += [("train", TRAIN, extra, train_dir) for extra in BAD_TRAIN]
    if not torch.cuda.is_available():
        bad += [("search", TINY, ["--device", "cuda"], search_dir), ("train", TRAIN, ["--device", "cuda"], train_dir)]
    for command, base, extra, out in bad:
        assert main([command, *base, *extra, "--out", str(out)]) == 2, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"pyronas {command}: error: "), (extra, err)
    assert main(["search", *TINY, "--out", str(search_dir)]) == 2
    err = capsys.readouterr().err
    assert "holds a previous search" in err and "--resume" in err and "--overwrite" in err
    assert (snapshot(search_dir), snapshot(train_dir)) == before
    assert not (search_dir / LOCK).exists() and not (train_dir / LOCK).exists()


def test_overwrite_moves_the_previous_run_aside(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", *TINY, "--out", str(out)]) == 0
    old = snapshot(out)
    assert main(["search", *TINY, "--seed", "1", "--overwrite", "--out", str(out)]) == 0
    (previous,) = out.glob("previous-*")
    assert {name: value[0] for name, value in snapshot(previous).items()} == {k: v[0] for k, v in old.items()}
    assert json.loads((out / "result.json").read_text())["seed"] == 1
    assert torch.load(out / "checkpoint.pt", weights_only=False)["epoch"] == 2


def test_a_folder_being_written_is_refused_and_a_dead_holders_lock_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    code = f"import time; from pyronas.infer.claim import RunLock\nwith RunLock({str(out)!r}):\n"
    code += "    print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["search", *TINY, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "being written by another pyronas command" in err and str(holder.pid) in err
    finally:
        holder.kill()
        holder.wait()
    assert (out / LOCK).read_text().split()[0] == str(holder.pid)  # left behind by the killed holder
    assert main(["search", *TINY, "--out", str(out)]) == 0
    assert (out / "result.json").is_file() and not (out / LOCK).exists()


def test_lock_is_reentrant_within_a_process_and_released(tmp_path):
    with RunLock(tmp_path) as outer:
        assert (tmp_path / LOCK).read_text().split()[0] == str(os.getpid())
        with RunLock(tmp_path):
            pass
        assert (tmp_path / LOCK).exists() and outer.lock is not None and outer.lock.is_locked
    assert not (tmp_path / LOCK).exists()


def test_resume_removes_temporary_files_of_a_killed_write(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", *TINY, "--out", str(out)]) == 0
    (out / "checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    (out / "result.json.tmp").write_text("{")
    assert main(["search", *TINY, "--resume", "--out", str(out)]) == 0
    assert not list(out.glob("*.tmp"))


@pytest.mark.parametrize("stop", [0, 1])
def test_ctrl_c_says_what_was_saved(stop, tmp_path, capsys, monkeypatch):
    from pyronas.infer.search import Search

    original = Search._epoch

    def epoch(self):
        if self.epoch == stop:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Search, "_epoch", epoch)
    assert main(["search", *TINY, "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    if stop == 0:
        assert "nothing was saved" in err and not (tmp_path / "checkpoint.pt").exists()
    else:
        assert f"epoch 1 is in {tmp_path / 'checkpoint.pt'}" in err and "--resume" in err
        assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["epoch"] == 1


def test_ctrl_c_in_training_before_an_epoch_says_nothing_was_saved(tmp_path, capsys, monkeypatch):
    def epoch(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pyronas.train, "_epoch", epoch)
    assert main(["train", *TRAIN, "--out", str(tmp_path)]) == 130
    assert "training interrupted before any epoch completed; nothing was saved" in capsys.readouterr().err


def test_an_invalid_distribution_parameter_is_a_one_line_divergence(tmp_path, capsys):
    """init_scale=1e30 makes DrNAS' Dirichlet concentrations 0 or infinite in the first step."""
    assert main(["search", *TINY, "--option", "init_scale=1e30", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "diverged in epoch 1" in err and "nothing was saved" in err


def test_a_lock_on_a_file_its_holder_removed_is_let_go(tmp_path):
    """A command that opened the lock file just before its holder removed it and unlocked must not hold the
    folder: its lock is on the removed inode while the next command locks the path's new file."""
    stale = RunLock(tmp_path)
    (tmp_path / LOCK).write_text("1 elsewhere\n")
    fd = os.open(tmp_path / LOCK, os.O_RDWR)  # the removed inode
    try:
        (tmp_path / LOCK).unlink()
        (tmp_path / LOCK).write_text("")  # the next command's file
        with pytest.raises(Exception) as refused:
            stale._claim(fd)
        assert type(refused.value).__name__ == "_Replaced"
    finally:
        os.close(fd)
    (tmp_path / LOCK).unlink()
    with RunLock(tmp_path):  # a fresh path is taken and carries our PID
        assert (tmp_path / LOCK).read_text().split()[0] == str(os.getpid())
    assert not (tmp_path / LOCK).exists()


def test_two_processes_racing_for_a_folder_never_both_hold_it(tmp_path):
    """Four processes take and release the same folder's lock 30 times each; none ever sees another inside."""
    code = (
        "import os, sys, time\nfrom pyronas.infer.claim import RunLock, RunFolderError\n"
        "inside = 0\nfor _ in range(30):\n"
        "    try:\n        with RunLock(sys.argv[1]):\n"
        "            marker = os.path.join(sys.argv[1], 'inside')\n"
        "            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)\n"
        "            time.sleep(0.002)\n            os.close(fd); os.unlink(marker); inside += 1\n"
        "    except RunFolderError:\n        time.sleep(0.001)\n"
        "print(inside)\n"
    )
    folder = tmp_path / "run"
    folder.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]  # fmt: skip
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]  # O_EXCL never failed
    assert sum(int(out) for out, _ in results) >= 1
    assert not (folder / LOCK).exists()
