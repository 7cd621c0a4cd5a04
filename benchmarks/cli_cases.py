"""Reproduce the user-facing cases of the CLI / API issue against one pyronas installation.

Each case runs the installation's own ``pyronas`` and ``python`` (``--venv PATH``: ``PATH/bin/pyronas``,
``PATH/bin/python``) in subprocesses, in a fresh temporary working directory, on the embedded digits data
set at a tiny size (64 images per half, C=4, one cell per stage, one to three epochs); nothing is
downloaded. It assumes neither the old nor the new behaviour: each row shows what the installation did:
the last line of its output (stdout and stderr, progress-bar redraws split at ``\\r``), the exit code and
the seconds, with a case-specific measure in ``detail``.

    python benchmarks/cli_cases.py --venv /work/wt-before/.venv --json benchmarks/logs/cli_cases_before.json
    python benchmarks/cli_cases.py --venv .venv --json /tmp/after.json
    python benchmarks/cli_cases.py --join benchmarks/logs/cli_cases_before.json /tmp/after.json

``--only 1,8a,21`` runs some cases (by id or id prefix); ``--keep`` keeps the working directories.
Subprocesses get ``OMP_NUM_THREADS=1`` (unless set) and an unreachable HTTP(S) proxy, so that any attempt
at the network fails at once instead of downloading.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

TIMEOUT = 120  # seconds per command
WIDTH = 160  # characters of a last line in the table
TINY = ["--dataset", "digits", "--train-size", "64", "--channels", "4", "--cells-per-stage", "1"]
ORIGINAL = [*TINY, "--arch-lr", "0.01"]  # the flags of the runs that are resumed or extended
SLOW = ["--batch-size", "16"]  # 4 steps per epoch: time to interrupt after the first checkpoint
API_TINY = "dataset='digits', train_size=64, channels=4, cells_per_stage=1"
NB201_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
CLIPPED = '{"lr": 0.01, "clip_norm": 5}'
NB201 = ["--space", "nb201"]
SMALL_NET = ["--channels", "4", "--cells-per-stage", "1"]
NONE_CELL = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@dataclass
class Outcome:
    """One command's result: its combined output, stderr alone, exit code and wall time."""

    output: str
    stderr: str
    code: int | None
    seconds: float
    note: str = ""


@dataclass
class Row:
    id: str
    description: str
    command: str
    last_line: str
    exit_code: int | None
    seconds: float
    detail: str = ""
    full_command: str = ""  # the command as run (the table may show a Python script's label instead)


BOX = "│╭╮╰╯─ "  # the frame of tyro's error boxes


def lines(text: str) -> list[str]:
    """Non-empty stripped lines; a progress bar's ``\\r`` redraws count as lines."""
    return [s.strip() for s in text.replace("\r", "\n").split("\n") if s.strip()]


def text_lines(text: str) -> list[str]:
    """:func:`lines` without the frame of a box (a tyro error): its borders dropped, its sides stripped."""
    return [s.strip(BOX) for s in lines(text) if s.strip(BOX)]


def last_line(text: str) -> str:
    found = text_lines(text)
    return found[-1] if found else "(no output)"


def message(text: str) -> str:
    """The first message of the output: a tyro box's title and text up to its first rule, else the first line."""
    raw = lines(text)
    start = next((i for i, s in enumerate(raw) if s.startswith("╭")), None)
    if start is None:
        return next(iter(text_lines(text)), "(no output)")
    body = []
    for s in raw[start + 1 :]:
        if not s.strip(BOX):
            break
        body.append(s.strip(BOX))
    return f"{raw[start].strip(BOX)}: {' '.join(body)}"


def without(flags: list[str], given: tuple[str, ...]) -> list[str]:
    """``flags`` (option, value pairs) less the options in ``given``."""
    pairs = zip(flags[::2], flags[1::2])
    return [item for key, value in pairs if key not in given for item in (key, value)]


def short(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def read(path: Path) -> str:
    """A file's text with its ``\\r`` kept (``read_text`` would turn them into newlines)."""
    return path.read_bytes().decode(errors="replace")


def shown(argv: list[str], label: str | None = None) -> str:
    """A command as a user types it: ``pyronas ...`` / ``python -c "..."`` without the venv path.

    A Python script of several lines is shown as ``label`` (the JSON keeps the full command).
    """
    head = Path(argv[0]).name
    head = head if head in ("pyronas", "python") else argv[0]
    if head == "python" and argv[1:2] == ["-c"]:
        code = argv[2].strip()
        if label is not None or "\n" in code:
            return f'python -c "{label or code.splitlines()[0] + " ..."}"'
        if '"' not in code:
            return f'python -c "{code}"'
    redirect = argv[-3:] == [">", "log.txt", "2>&1"]  # a shell redirection, shown unquoted
    return shlex.join([head, *argv[1 : -3 if redirect else None]]) + (" > log.txt 2>&1" if redirect else "")


class Target:
    """One installation: runs its commands in temporary directories under one root."""

    def __init__(self, venv: Path, root: Path):
        self.venv, self.root = venv, root
        self.pyronas = str(venv / "bin" / "pyronas")
        self.python = str(venv / "bin" / "python")
        for exe in (self.pyronas, self.python):
            if not os.access(exe, os.X_OK):
                raise SystemExit(f"{exe} is not an executable; pass --venv of a pyronas installation")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYRONAS_")}  # no NB201 table
        env.setdefault("OMP_NUM_THREADS", "1")
        env.update(PYTHONUNBUFFERED="1", http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
        env.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="", no_proxy="")
        env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
        env.pop("PYTHONPATH", None)
        self.env = env
        self._base: tuple[Path, Outcome] | None = None

    def workdir(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))

    def cli(self, *args: str) -> list[str]:
        return [self.pyronas, *args]

    def py(self, code: str) -> list[str]:
        return [self.python, "-c", code]

    def run(self, argv: list[str], cwd: Path, timeout: float = TIMEOUT, log: Path | None = None) -> Outcome:
        """Run ``argv`` in ``cwd``; stdout and stderr go to one stream (or to ``log``, as ``> log 2>&1`` does)."""
        start = time.perf_counter()
        out_path = log or cwd / ".output"
        with open(out_path, "wb") as out:  # one file for both streams keeps their order, as a terminal shows it
            proc = subprocess.Popen(argv, cwd=cwd, env=self.env, stdout=out, stderr=out, start_new_session=True)
            code, note = self._wait(proc, timeout)
        seconds = time.perf_counter() - start
        output = read(out_path)
        return Outcome(output, "", code, seconds, note)

    def run_split(self, argv: list[str], cwd: Path, timeout: float = TIMEOUT) -> Outcome:
        """Run ``argv`` with stderr apart from stdout (``output`` is stdout then stderr)."""
        start = time.perf_counter()
        with open(cwd / ".stdout", "wb") as out, open(cwd / ".stderr", "wb") as err:
            proc = subprocess.Popen(argv, cwd=cwd, env=self.env, stdout=out, stderr=err, start_new_session=True)
            code, note = self._wait(proc, timeout)
        seconds = time.perf_counter() - start
        stdout, stderr = (read(cwd / name) for name in (".stdout", ".stderr"))
        return Outcome(stdout + stderr, stderr, code, seconds, note)

    def interrupt(self, argv: list[str], cwd: Path, checkpoint: Path, timeout: float = TIMEOUT) -> Outcome:
        """Run ``argv`` and send it SIGINT (Ctrl-C) as soon as ``checkpoint`` exists."""
        start = time.perf_counter()
        with open(cwd / ".output", "wb") as out:
            proc = subprocess.Popen(argv, cwd=cwd, env=self.env, stdout=out, stderr=out, start_new_session=True)
            note = f"no {checkpoint.name} within {timeout} s"
            while time.perf_counter() - start < timeout and proc.poll() is None:
                if checkpoint.is_file():
                    proc.send_signal(signal.SIGINT)
                    note = f"SIGINT {time.perf_counter() - start:.1f} s after the start, once {checkpoint.name} existed"
                    break
                time.sleep(0.05)
            else:
                if proc.poll() is not None:
                    note = f"the process ended (exit {proc.returncode}) before {checkpoint.name} appeared"
            code, late = self._wait(proc, max(5.0, timeout - (time.perf_counter() - start)))
        output = read(cwd / ".output")
        return Outcome(output, "", code, time.perf_counter() - start, late or note)

    @staticmethod
    def _wait(proc: subprocess.Popen, timeout: float) -> tuple[int | None, str]:
        try:
            return proc.wait(timeout=timeout), ""
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the process and its children only
            proc.wait()
            return None, f"timed out after {timeout:.0f} s"

    def base_run(self) -> tuple[Path, Outcome]:
        """A finished one-epoch search (``ORIGINAL`` flags, ``--out RUN``), made once and copied by the cases."""
        if self._base is None:
            cwd = self.workdir("base")
            outcome = self.run(self.cli("search", *ORIGINAL, "--epochs", "1", "--out", "RUN"), cwd)
            self._base = (cwd / "RUN", outcome)
        return self._base

    def copy_base(self, cwd: Path, name: str = "RUN") -> Path:
        run, outcome = self.base_run()
        if outcome.code != 0 or not (run / "result.json").is_file():
            raise SetupFailed(f"setup search failed (exit {outcome.code}): {short(last_line(outcome.output), 100)}")
        shutil.copytree(run, cwd / name)
        return cwd / name


class SetupFailed(RuntimeError):
    """A case's preparation (a search it builds on) failed; the row says so."""


@dataclass
class Case:
    id: str
    description: str
    body: Callable[[Target, Path], Done]


@dataclass
class Done:
    """What a case ran (the command of its row), how it went, its measure and, if not the output's, its last line."""

    argv: list[str]
    outcome: Outcome
    detail: str = ""
    last: str | None = None
    label: str | None = None  # what the table shows of a Python script

    def row(self, case: Case) -> Row:
        text = self.last if self.last is not None else last_line(self.outcome.output)
        boxed = f"tyro box: {short(message(self.outcome.output), 140)}" if "╭" in self.outcome.output else ""
        detail = "; ".join(d for d in (self.detail, boxed, self.outcome.note) if d)
        seconds = round(self.outcome.seconds, 1)
        command, full = shown(self.argv, self.label), shlex.join([Path(self.argv[0]).name, *self.argv[1:]])
        return Row(case.id, case.description, command, short(text), self.outcome.code, seconds, detail, full)


# --- the cases ---------------------------------------------------------------------------------------------------


def resume_alone(t: Target, cwd: Path) -> Done:
    first = t.cli("search", *ORIGINAL, *SLOW, "--epochs", "3", "--out", "RUN")
    stopped = t.interrupt(first, cwd, cwd / "RUN" / "checkpoint.pt")
    said = next((s for s in reversed(lines(stopped.output)) if "resume" in s), last_line(stopped.output))
    argv = t.cli("search", "--out", "RUN", "--resume")
    outcome = t.run(argv, cwd)
    detail = f"the interrupted run ({stopped.note}) exited {stopped.code} saying: {short(said, 120)}"
    return Done(argv, outcome, f"{detail}; checkpoint history after: {history_epochs(t, cwd / 'RUN')} epochs")


def config_from_result(t: Target, cwd: Path) -> Done:
    t.copy_base(cwd)
    argv = t.cli("search", "--config", "RUN/result.json", "--out", "RUN2", "--quiet")
    return Done(argv, t.run(argv, cwd))


def extend(*flags: str) -> Callable[[Target, Path], Done]:
    def body(t: Target, cwd: Path) -> Done:
        t.copy_base(cwd)
        argv = t.cli("search", *flags, "--out", "RUN", "--resume", "--epochs", "2")
        outcome = t.run(argv, cwd)
        return Done(argv, outcome, f"checkpoint history after: {history_epochs(t, cwd / 'RUN')} epochs")

    return body


def history_epochs(t: Target, run: Path) -> str:
    if not (run / "checkpoint.pt").is_file():
        return "no checkpoint,"
    code = "import torch; print(len(torch.load('checkpoint.pt', map_location='cpu', weights_only=False)['history']))"
    return last_line(t.run(t.py(code), run, timeout=60).output)


def yaml_bad_epochs(t: Target, cwd: Path) -> Done:
    (cwd / "bad.yaml").write_text("epochs: one\n")
    argv = t.cli("search", "--config", "bad.yaml", "--print-config")
    return Done(argv, t.run(argv, cwd))


def api_string_epochs(t: Target, cwd: Path) -> Done:
    argv = t.py(f"import pyronas.api as a; a.search(epochs='2', {API_TINY}, out_dir='RUN', progress=False)")
    outcome = t.run_split(argv, cwd)
    text = last_line(outcome.stderr) if outcome.stderr.strip() else None
    return Done(argv, outcome, "" if text else "nothing on stderr; last line of stdout", last=text)


def print_config_roundtrip(t: Target, cwd: Path) -> Done:
    printed = t.run(t.cli("search", "--print-config"), cwd)
    try:
        json.loads(printed.output)
        suffix, kind = ".json", "JSON"
    except json.JSONDecodeError:
        suffix, kind = ".yaml", "not JSON (saved as YAML)"
    (cwd / f"printed{suffix}").write_text(printed.output)
    argv = t.cli("search", "--config", f"printed{suffix}", "--print-config")
    outcome = t.run(argv, cwd)
    warning = next((os.path.basename(s) for s in lines(outcome.output) if "Warning" in s), None)  # no site path
    found = "a Warning line (shown)" if warning else "no Warning line"
    return Done(argv, outcome, f"--print-config printed {kind} (exit {printed.code}); {found}", last=warning)


def method_options(t: Target, cwd: Path) -> Done:
    argv = t.cli("search", "--method", "bayesnas", "--print-config")
    outcome = t.run(argv, cwd)
    try:
        found = find_key(json.loads(outcome.output), "method_options")
        text = "(no method_options key)" if found is MISSING else "method_options: " + json.dumps(found)
    except json.JSONDecodeError:
        text = next((s for s in lines(outcome.output) if "method_options" in s), None)
    return Done(argv, outcome, last=text)


MISSING = object()


def find_key(tree, key: str):
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for value in tree.values():
            found = find_key(value, key)
            if found is not MISSING:
                return found
    return MISSING


def tiny_search(*flags: str) -> Callable[[Target, Path], Done]:
    def body(t: Target, cwd: Path) -> Done:
        argv = t.cli("search", *TINY, "--epochs", "1", "--quiet", *flags, "--out", "RUN")
        return Done(argv, t.run(argv, cwd))

    return body


def python(code: str, label: str | None = None, needs_run: bool = False) -> Callable[[Target, Path], Done]:
    def body(t: Target, cwd: Path) -> Done:
        if needs_run:
            t.copy_base(cwd)
        argv = t.py(code)
        return Done(argv, t.run(argv, cwd), label=label)

    return body


NGVI_CALLABLE = (
    "import pyronas.api as a; from pyronas.optim import NGVI; o = NGVI(lambda name, param: {'lr': 0.01}); "
    f"a.search('balenas', arch_optim=o, epochs=1, {API_TINY}, out_dir='RUN', progress=False); print('accepted')"
)
NGVI_NUM_DATA = (
    "import pyronas.api as a; from pyronas.optim import NGVI; o = NGVI({'lr': 0.01, 'num_data': 5}); "
    f"a.search('balenas', method_options={{'kl_weight': 0.1}}, arch_optim=o, epochs=1, {API_TINY}, "
    "out_dir='RUN', progress=False); print('accepted')"
)
NGVI_ONE_ARG = NGVI_CALLABLE.replace("lambda name, param:", "lambda name:")
RESULT_ATTRS = (
    f"import pyronas.api as a; r = a.search(epochs=1, {API_TINY}, out_dir='RUN', progress=False); "
    "print(', '.join(f'{k}={hasattr(r, k)}' for k in ('model', 'guide', 'supernet')))"
)
LOAD_RUN = """
import torch, pyronas
try:
    load, how = pyronas.load_run, 'pyronas.load_run'
except AttributeError:
    from pyronas.diagnostics import load_run as load
    how = 'pyronas.diagnostics.load_run'
run = load('RUN')
stored = torch.load('RUN/checkpoint.pt', map_location='cpu', weights_only=False)['model']
stored = {k[len('supernet.'):]: v for k, v in stored.items() if k.startswith('supernet.') and v.is_floating_point()}
net = getattr(run, 'supernet', None)
net = net if net is not None else getattr(run.model, 'supernet', None)
now = {} if net is None else {k: v for k, v in net.state_dict().items() if v.is_floating_point()}
same = [k for k, v in now.items() if k in stored and v.shape == stored[k].shape]
equal = sum(torch.equal(now[k], stored[k]) for k in same)
verdict = 'equal' if stored and equal == len(stored) == len(now) else 'differs'
print(f'{how}: supernet {verdict} to the checkpoint: {equal} of {len(stored)} stored tensors equal, '
      f'{len(same) - equal} differ, {sum(k in stored for k in now) - len(same)} other shape, '
      f'{len(set(stored) - set(now))} missing')
"""
CELL_PROBABILITY = f"""
import numpy as np
from pyronas.diagnostics import cell_probability, derived_cells, from_runs, load_run
run = load_run('RUN')
idata = from_runs([run], num_draws=200, seed=0)
drawn = set(np.asarray(derived_cells(idata)).ravel().tolist())
cell = '{NONE_CELL}'
assert cell not in drawn, 'the all-none cell was drawn; pick another'
f = getattr(run, 'cell_probability', None)
value = f(cell) if callable(f) else cell_probability(idata, cell)
if isinstance(value, dict):
    value = {{k: v for k, v in value.items() if k != 'genotype' and not k.startswith('per_chain')}}
print(f'{{len(drawn)}} distinct cells in 200 draws; the undrawn all-none cell: {{value}}')
"""
LOAD_LABEL = "run = pyronas.load_run('RUN') (else diagnostics.load_run); its supernet's tensors vs checkpoint.pt's"
CELL_LABEL = (
    "from pyronas.diagnostics import *; idata = from_runs([load_run('RUN')], num_draws=200); "
    f"cell_probability(idata, '{NONE_CELL}')  # a cell no draw derived"
)
INTERRUPT_API = (
    f"import pyronas.api as a; a.search(epochs=3, batch_size=16, arch_lr=0.01, {API_TINY}, out_dir='RUN', "
    "progress=False)"
)


def api_interrupt(t: Target, cwd: Path) -> Done:
    argv = t.py(INTERRUPT_API)
    outcome = t.interrupt(argv, cwd, cwd / "RUN" / "checkpoint.pt")
    text = last_line(outcome.output)
    says = "--resume" if "--resume" in text else "resume=True" if "resume=True" in text else "neither"
    return Done(argv, outcome, f"says {says}")


def train(*flags: str) -> Callable[[Target, Path], Done]:
    def body(t: Target, cwd: Path) -> Done:
        argv = t.cli("train", *flags, "--dataset", "digits", "--epochs", "1", "--max-steps", "2", "--out", "OUT")
        outcome = t.run(argv, cwd)
        result = cwd / "OUT" / "result.json"
        if not result.is_file():
            return Done(argv, outcome, "no result.json")
        record = json.loads(result.read_text())
        sizes = ", ".join(f"{k}={record.get('config', {}).get(k)}" for k in ("channels", "cells_per_stage"))
        return Done(argv, outcome, f"result.json: test_acc={record.get('test_acc')}, params={record.get('params')}, "
                                   f"{sizes}")  # fmt: skip

    return body


def mistake(*flags: str) -> Callable[[Target, Path], Done]:
    def body(t: Target, cwd: Path) -> Done:
        argv = t.cli("search", *without([*TINY, "--epochs", "1"], flags), "--quiet", *flags, "--out", "RUN")
        outcome = t.run(argv, cwd)
        return Done(
            argv,
            outcome,
            f"{len(lines(outcome.output))} output lines",
        )

    return body


def redirected(t: Target, cwd: Path) -> Done:
    argv = t.cli("search", *TINY, "--epochs", "1", "--out", "RUN")
    outcome = t.run(argv, cwd, log=cwd / "log.txt")
    raw = outcome.output.split("\n")
    bars = sum(1 for s in raw if "%|" in s or "\r" in s)
    carriage = outcome.output.count("\r")
    detail = f"log.txt: {len(raw)} lines, {bars} with progress-bar characters ('%|' or \\r), {carriage} \\r in all"
    return Done([*argv, ">", "log.txt", "2>&1"], outcome, detail)


def quiet_darts(t: Target, cwd: Path) -> Done:
    argv = t.cli("search", "--space", "darts", "--quiet", *TINY, "--epochs", "1", "--out", "RUN")
    outcome = t.run(argv, cwd)
    return Done(argv, outcome, f"{len(lines(outcome.output))} output lines")


def refusal_time(t: Target, cwd: Path) -> Done:
    argv = t.cli("search", "--epochs", "abc")
    outcome = t.run(argv, cwd)
    return Done(argv, outcome, f"refused after {outcome.seconds:.2f} s")


CASES = [
    Case("1", "resume with --out and --resume only (after Ctrl-C)", resume_alone),
    Case("2", "a finished run's result.json as --config", config_from_result),
    Case("3a", "extend a finished 1-epoch run to 2: --out --resume --epochs only", extend()),
    Case("3b", "extend a finished 1-epoch run to 2: original flags retyped", extend(*ORIGINAL)),
    Case("4", "YAML config with `epochs: one`", yaml_bad_epochs),
    Case("5", "Python search(epochs='2'): last line of stderr", api_string_epochs),
    Case("6", "--print-config output fed back as --config: a Warning?", print_config_roundtrip),
    Case("7", "--method bayesnas --print-config: method_options", method_options),
    Case("8a", "--elbo renyi", tiny_search("--elbo", "renyi")),
    Case("8b", "--elbo RenyiELBO --elbo-args", tiny_search("--elbo", "RenyiELBO", "--elbo-args", '{"alpha": 0.5}')),
    Case("9", "--optim ClippedAdam --optim-args", tiny_search("--optim", "ClippedAdam", "--optim-args", CLIPPED)),
    Case("10", "--guide AutoGuideList", tiny_search("--guide", "AutoGuideList")),
    Case("11", "--method balenas --guide AutoDelta", tiny_search("--method", "balenas", "--guide", "AutoDelta")),
    Case("12", "NGVI(callable) as a balenas search's arch_optim", python(NGVI_CALLABLE)),
    Case("12b", "as 12 with Pyro's one-argument callable (lambda name: ...), not in the issue", python(NGVI_ONE_ARG)),
    Case("13", "balenas kl_weight=0.1 with NGVI num_data=5 (contradicting)", python(NGVI_NUM_DATA)),
    Case("14", "train an NB201 cell, --space nb201 (its defaults)", train("--genotype", NB201_CELL, *NB201)),
    Case("15", "train an NB201 cell without --space", train("--genotype", NB201_CELL)),
    Case("16", "train DARTS_V2 on digits: held-out accuracy", train("--genotype", "DARTS_V2", *SMALL_NET)),
    Case("17", "search() result: model, guide, supernet attributes?", python(RESULT_ATTRS)),
    Case("18", "load_run: supernet weights equal to the checkpoint's?", python(LOAD_RUN, LOAD_LABEL, needs_run=True)),
    Case("19", "Ctrl-C of a Python search: --resume or resume=True?", api_interrupt),
    Case("20", "cell_probability of a cell no draw derived", python(CELL_PROBABILITY, CELL_LABEL, needs_run=True)),
    Case("21a", "CLI mistake: --method nosuch", mistake("--method", "nosuch")),
    Case("21b", "CLI mistake: --dataset imagenet", mistake("--dataset", "imagenet")),
    Case("21c", "CLI mistake: --epochs abc", mistake("--epochs", "abc")),
    Case("21d", "CLI mistake: --option kl_weight (no =)", mistake("--option", "kl_weight")),
    Case("22", "search redirected to a file: progress-bar lines", redirected),
    Case("23", "--space darts --quiet: output lines", quiet_darts),
    Case("24", "seconds until `--epochs abc` is refused", refusal_time),
]


def run_cases(target: Target, only: list[str] | None) -> list[Row]:
    rows = []
    for case in CASES:
        if only and not any(case.id == o or case.id.rstrip("abcd") == o.rstrip("abcd") == o for o in only):
            continue
        start = time.perf_counter()
        try:
            made = case.body(target, target.workdir(f"case{case.id}")).row(case)
        except SetupFailed as e:
            made = Row(case.id, case.description, "(not run)", str(e), None, round(time.perf_counter() - start, 1))
        except Exception as e:  # a bug of this script, not of pyronas: say so in the row and go on
            made = Row(case.id, case.description, "(script error)", short(f"{type(e).__name__}: {e}"), None, 0.0)
        rows.append(made)
        print(f"[{made.id}] exit {made.exit_code} in {made.seconds} s: {made.last_line}", file=sys.stderr, flush=True)
    return rows


# --- tables -------------------------------------------------------------------------------------------------------


def cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(header: list[str], body: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(v) for v in values) + " |" for values in body]
    return "\n".join(out)


def table(rows: list[Row]) -> str:
    header = ["case", "command", "last line", "exit", "s", "detail"]
    return markdown(header, [[f"{r.id} {r.description}", f"`{r.command}`", r.last_line, r.exit_code, r.seconds,
                              r.detail] for r in rows])  # fmt: skip


def joined(before: dict, after: dict) -> str:
    def said(r: dict | None) -> str:
        if r is None:
            return "(not run)"
        extra = f"; {r['detail']}" if r.get("detail") else ""
        return f"{r['last_line']} (exit {r['exit_code']}, {r['seconds']} s{extra})"

    b = {r["id"]: r for r in before["rows"]}
    a = {r["id"]: r for r in after["rows"]}
    known = [c.id for c in CASES]
    order = sorted(set(b) | set(a), key=lambda k: (known.index(k) if k in known else len(known), k))
    header = ["case", "command", f"before ({before['version']}): last line (exit)",
              f"after ({after['version']}): last line (exit)"]  # fmt: skip
    body = []
    for key in order:
        first = b.get(key) or a[key]
        command = first["command"] if key not in a or a[key]["command"] == first["command"] else (
            f"{first['command']} / after: {a[key]['command']}")  # fmt: skip
        body.append([f"{key} {first['description']}", f"`{command}`", said(b.get(key)), said(a.get(key))])
    return markdown(header, body)


def version(target: Target) -> str:
    """``<commit>[+changes], pyronas <version>`` of the source tree the installation imports."""
    code = "import os, pyronas; print(pyronas.__version__); print(os.path.dirname(os.path.dirname(pyronas.__file__)))"
    out = subprocess.run(
        [target.python, "-c", code], cwd=target.root, capture_output=True, text=True, env=target.env, timeout=60
    ).stdout.split("\n")
    if len(out) < 2:
        return "? (pyronas does not import)"

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", out[1], *args], capture_output=True, text=True).stdout.strip()

    changed = "+changes" if git("status", "--porcelain", "--untracked-files=no", "--", "pyronas") else ""
    return f"{git('rev-parse', '--short', 'HEAD') or '?'}{changed}, pyronas {out[0]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="the installation: PATH/bin/pyronas and PATH/bin/python")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--only", help="comma-separated case ids (3 runs 3a and 3b)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary working directories")
    parser.add_argument("--join", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="join two --json files")
    args = parser.parse_args(argv)
    if args.join:
        before, after = (json.loads(p.read_text()) for p in args.join)
        print(joined(before, after))
        return 0
    if args.venv is None:
        parser.error("--venv PATH (or --join BEFORE AFTER) is required")
    root = Path(tempfile.mkdtemp(prefix="pyronas-cli-cases-"))
    try:
        target = Target(args.venv.resolve(), root)
        start = time.perf_counter()
        rows = run_cases(target, args.only.split(",") if args.only else None)
        record = {"venv": str(args.venv.resolve()), "version": version(target),
                  "seconds": round(time.perf_counter() - start, 1), "rows": [asdict(r) for r in rows]}  # fmt: skip
    finally:
        if args.keep:
            print(f"working directories kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"pyronas at {record['venv']} ({record['version']}), {record['seconds']} s\n")
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
