"""Failed writes end in one line naming the path and the fix, and keep what was saved before.

A full disk is simulated by failing the write calls (monkeypatch), as a test cannot mount a small file system.
"""

import errno
import os

import pytest
import torch

import pyronas.infer.checkpoint
from pyronas.cli import main
from pyronas.errors import OutputError
from pyronas.infer.checkpoint import save_checkpoint

TINY = ["--quiet", "--channels", "4", "--cells-per-stage", "1", "--train-size", "64", "--batch-size", "32"]
CELLS = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|\n"
PROXIES = ["--proxies", "synflow", "--batch-size", "16", "--quiet"]


def _fail_on_call(n, error):
    """A ``torch.save`` that writes part of a file and fails on its ``n``-th call, as on a full disk."""
    real, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            f.write(b"PK\x03\x04 part of a zip")
            raise error
        return real(obj, f, *args, **kwargs)

    return save


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, capsys, monkeypatch):
    unexpected = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    monkeypatch.setattr(torch, "save", _fail_on_call(2, unexpected))
    monkeypatch.setattr(pyronas.infer.checkpoint, "full_disk", lambda folder: True)
    assert main(["search", *TINY, "--epochs", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no space left on the device" in err and "previous checkpoint is intact" in err
    assert str(tmp_path / "checkpoint.pt") in err
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["epoch"] == 1
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / ".pyronas.lock").exists()


@pytest.mark.parametrize("code, text", [(errno.ENOSPC, "no space left"), (errno.EROFS, "the file system is read-only")])
def test_an_os_error_while_saving_is_one_line_with_the_fix(code, text, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", _fail_on_call(1, OSError(code, os.strerror(code))))
    with pytest.raises(OutputError, match=f"cannot write .*checkpoint.pt: {text}.*no checkpoint was saved"):
        save_checkpoint({"format": 1}, tmp_path / "checkpoint.pt")
    assert not list(tmp_path.iterdir())


def test_proxies_out_is_checked_before_scoring_and_a_failed_write_leaves_no_file(tmp_path, capsys, monkeypatch):
    cells = tmp_path / "cells.txt"
    cells.write_text(CELLS)
    assert main(["proxies", str(cells), *PROXIES, "--out", str(tmp_path / "missing" / "deeper")]) == 0
    assert (tmp_path / "missing" / "deeper" / "proxies.csv").read_text().startswith("arch,synflow")
    for out, text in [(cells, "is a file, not a folder"), (cells / "p.csv", "lies below the file")]:
        assert main(["proxies", str(cells), *PROXIES, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err
    real_fsync = os.fsync

    def full(fd):
        real_fsync(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    assert main(["proxies", str(cells), *PROXIES, "--out", str(tmp_path / "p.csv")]) == 2
    assert "p.csv: no space left on the device" in capsys.readouterr().err
    assert not list(tmp_path.glob("p.csv*"))


def test_report_out_that_is_not_a_folder_fails_before_the_draws(tmp_path, capsys, monkeypatch):
    assert main(["search", *TINY, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    (tmp_path / "file").write_text("x")

    def never(*args, **kwargs):
        raise AssertionError("the report drew from the posterior before checking --out")

    monkeypatch.setattr("pyronas.diagnostics.report.from_runs", never)
    capsys.readouterr()
    for out, text in [(tmp_path / "file", "is a file"), (tmp_path / "file" / "r", "lies below the file")]:
        assert main(["report", str(tmp_path / "run"), "--draws", "5", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err
