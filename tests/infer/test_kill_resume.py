"""A search SIGKILLed after its first checkpoint and at random moments, resumed each time (``--resume``, or
``--overwrite`` when only a log was written), ends exactly where an uninterrupted one ends."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from pyronas.infer.rundir import previous_run

ARGS = ["search", "--quiet", "--epochs", "4", "--channels", "4", "--cells-per-stage", "1", "--train-size", "96"]
ARGS += ["--batch-size", "32"]
ENV = dict(os.environ, OMP_NUM_THREADS="1")  # PYTHONPATH and the rest pass through, so a checkout's pyronas runs


def _command(out, *flags):
    return [sys.executable, "-m", "pyronas.cli", *ARGS, *flags, "--out", str(out)]


def _timed_run(out) -> tuple[float, float]:
    """Run to the end; ``(seconds until the run folder's log appeared, seconds in all)``."""
    start, first = time.monotonic(), None
    proc = subprocess.Popen(_command(out), env=ENV, stdout=subprocess.DEVNULL)
    while proc.poll() is None:
        if first is None and (out / "log.jsonl").exists():
            first = time.monotonic() - start
        time.sleep(0.01)
    assert proc.returncode == 0
    return first or 0.0, time.monotonic() - start


def _flags(out) -> list[str]:
    """What a user types after a kill: --resume with a checkpoint, --overwrite with only a log."""
    if (out / "checkpoint.pt").exists():
        return ["--resume"]
    return ["--overwrite"] if out.exists() and previous_run(out) else []


def _without(record: dict, *keys) -> dict:
    return {k: v for k, v in record.items() if k not in keys}


def _state(path) -> dict:
    state = torch.load(path, weights_only=False)
    state["history"] = [_without(r, "seconds") for r in state["history"]]
    return _without(state, "config")  # the config names its --out; the resume key holds the rest


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    first_file, total = _timed_run(full)
    proc = subprocess.Popen(_command(cut), env=ENV, stdout=subprocess.DEVNULL)
    while not (cut / "checkpoint.pt").exists() and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # first just after the first checkpoint, then at random moments
    proc.wait()
    assert 1 <= torch.load(cut / "checkpoint.pt", weights_only=False)["epoch"] < 4
    assert not (cut / "result.json").exists()
    seed = random.SystemRandom().randrange(10**6)
    rng, moments = random.Random(seed), []
    for _ in range(2):  # anywhere from just before the folder is touched to the end of a resumed run (3 epochs)
        delay = rng.uniform(0.8 * first_file, first_file + 0.75 * (total - first_file))
        proc = subprocess.Popen(_command(cut, *_flags(cut)), env=ENV, stdout=subprocess.DEVNULL)
        try:
            proc.wait(timeout=delay)  # it may finish first
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            epoch = torch.load(cut / "checkpoint.pt", weights_only=False)["epoch"] if _flags(cut) == ["--resume"] else 0
            moments.append((round(delay, 2), epoch))
    subprocess.run(_command(cut, *_flags(cut)), env=ENV, stdout=subprocess.DEVNULL, check=True)
    why = f"seed {seed}, kills (delay s, epochs saved): {moments}"
    ours, theirs = (json.loads((d / "result.json").read_text()) for d in (cut, full))
    assert _without(ours, "seconds", "config") == _without(theirs, "seconds", "config"), why
    assert _without(ours["config"], "out_dir", "resume") == _without(theirs["config"], "out_dir", "resume"), why
    assert _same(_state(cut / "checkpoint.pt"), _state(full / "checkpoint.pt")), why
    logs = [[_without(json.loads(line), "seconds") for line in (d / "log.jsonl").read_text().splitlines()]
            for d in (cut, full)]  # fmt: skip
    assert logs[0] == logs[1], why
    assert not list(cut.glob("*.tmp")) and not (cut / ".pyronas.lock").exists(), why
    print(why)  # shown with -s
