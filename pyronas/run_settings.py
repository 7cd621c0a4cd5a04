"""A run folder's settings: resume a run from them alone, extend it by epochs, or reproduce it elsewhere.

A search's or training's ``checkpoint.pt`` holds its resolved settings and their resume key (the settings that
change its trajectory). :func:`continue_search` and :func:`continue_training` take every setting from there and
lay the settings given on top: a given setting that would change the trajectory is refused in one line naming it
with the run's value, while those that do not (device, progress, out_dir, ...) are taken as given.

Extending: a larger ``epochs`` than the run's continues it to the new total (a finished run too); the added epochs
go to its last stage. The epochs still to run follow the learning-rate cosine of the new total, re-spanned: epoch
``e`` runs at the rate an uninterrupted run of the new total has at ``e`` (the weights of a search from
``weight_lr`` down to ``weight_lr_min``, a training's from ``lr`` down to 0, whose drop-path ramp is re-spanned
the same way). The epochs already run keep the rates they had. A smaller ``epochs`` is refused. Each extension
is recorded under ``"extended"`` in the checkpoints and ``result.json`` (``{"epochs_before", "at_epoch",
"epochs"}``).

:func:`settings_record` reads ``--config`` as a run folder, its ``result.json`` or ``checkpoint.pt`` (its
settings, without where the run was written), or a settings file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyronas.calls import argument, on_cli
from pyronas.config import SearchConfig, search_config

CHECKPOINT, RESULT = "checkpoint.pt", "result.json"  # as pyronas.infer.rundir names them (imported lazily: torch)

SEARCH, TRAINING = "search", "training"
COMMANDS = {SEARCH: "search", TRAINING: "train"}
WRITING = ("out_dir", "resume", "overwrite", "progress")  # where and how a run is written, not what it runs
FOLDED = ("progressive", "partial_channels", "warmup_epochs", "stages")  # a search's schedule, folded into stages
PYTHON_OBJECT = "python:"


@dataclass(frozen=True)
class StoredRun:
    """What a run folder's checkpoint says about its run."""

    path: Path
    kind: str  # SEARCH or TRAINING
    config: dict  # the resolved settings as JSON (``to_json``)
    resume_key: dict  # the settings a continuation must keep
    epoch: int  # epochs completed
    extended: list = field(default_factory=list)  # one record per extension

    @property
    def epochs(self) -> int:
        return int(self.config["epochs"])


@dataclass(frozen=True)
class Continuation:
    """How a run continues: the run's resume key (its checkpoint is accepted, also when extended) and its
    extensions (the last one decides the learning-rate schedule)."""

    resume_key: dict
    extended: list


def kind_of(config: Mapping) -> str:
    """``"search"`` or ``"training"``: which command wrote a config record."""
    return SEARCH if "method" in config else TRAINING


def has_run(path: str | os.PathLike | None) -> bool:
    """Whether folder ``path`` holds a run's checkpoint (without reading it)."""
    return path is not None and (Path(path) / CHECKPOINT).is_file()


def stored_run(path: str | os.PathLike | None, kind: str) -> StoredRun | None:
    """The run in folder ``path`` (``None`` when it holds no checkpoint); ``ValueError`` if it is another kind's."""
    if not has_run(path):
        return None
    from pyronas.infer.checkpoint import load_checkpoint

    state = load_checkpoint(Path(path) / CHECKPOINT)
    config = dict(state.get("config") or {})
    _check_kind(config, kind, Path(path))
    key = state.get("resume_key")
    if key is None:  # a checkpoint written before resume keys were stored
        key = config_of(kind, _versioned(config)).resume_key()
    return StoredRun(Path(path), kind, config, dict(key), int(state["epoch"]), list(state.get("extended") or []))


def _check_kind(config: Mapping, kind: str, where: Path) -> None:
    found = kind_of(config)
    if found != kind:
        raise ValueError(f"{where} holds a {found}, not a {kind}; use pyronas {COMMANDS[found]}")


def config_of(kind: str, record: Mapping):
    """The config (``SearchConfig`` or ``TrainConfig``) of a settings record; one without a version is of the current
    one (a run's records, :func:`settings_record`, carry theirs)."""
    if kind == SEARCH:
        config = search_config(record)
        stages = config["stages"]
        return config if stages is None else config.replace(stages=tuple(dict(s) for s in stages))
    from pyronas.train_config import TrainConfig

    return TrainConfig.from_json(record)


def run_config(path: str | os.PathLike, kind: str):
    """The settings of the run in folder ``path`` as a config (``SearchConfig`` or ``TrainConfig``), without where
    it was written (``out_dir``, ``resume``, ``overwrite`` at their defaults): ``search(run_config(RUN, "search"),
    out_dir=NEW)`` reruns it."""
    return config_of(kind, settings_record(path, kind))


def settings_record(path: str | os.PathLike, kind: str) -> dict:
    """The settings record of ``--config PATH``: a run folder (its checkpoint's settings, else its result's), its
    ``result.json`` or ``checkpoint.pt`` (without where the run was written), or a JSON/YAML settings file."""
    from pyronas.cli_options import read_config_file

    file = Path(path)
    if file.is_dir():
        if (file / CHECKPOINT).is_file():
            file = file / CHECKPOINT
        elif (file / RESULT).is_file():
            file = file / RESULT
        else:
            raise ValueError(f"{path} holds no run ({CHECKPOINT} or {RESULT}); pass a run folder or a settings file")
    if file.suffix == ".pt":
        from pyronas.infer.checkpoint import CheckpointError, load_checkpoint

        try:
            record = load_checkpoint(file).get("config")
        except CheckpointError as e:
            raise ValueError(str(e)) from None
    else:
        record = read_config_file(str(file))
        if not _is_result(record):
            return record
        record = record["config"]
    record = _versioned(record or {})
    _check_kind(record, kind, Path(path))
    return {k: v for k, v in record.items() if k not in WRITING}


def _versioned(record: Mapping) -> dict:
    """A run's config record with its version (version 1 wrote none)."""
    return {"version": 1, **record}


def _is_result(record: Mapping) -> bool:
    """Whether a JSON record is a run's ``result.json`` (its settings under ``config``, beside what it found)."""
    return isinstance(record.get("config"), Mapping) and "genotype" in record


def given_settings(config: Any, defaults: Any) -> dict:
    """The settings a config object gives: its fields that differ from ``defaults`` (a config of defaults)."""
    ours, theirs = flat(config), flat(defaults)
    return {name: value for name, value in ours.items() if _differs(value, theirs.get(name))}


def flat(config: Any) -> dict:
    """A config's settings by flat name."""
    if hasattr(config, "keys"):
        return {name: config[name] for name in config.keys()}
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def _differs(a: Any, b: Any) -> bool:
    try:
        return bool(a != b)
    except Exception:  # objects whose comparison is not a bool (tensors)
        return a is not b


def continue_search(run: StoredRun, given: Mapping[str, Any]) -> tuple[SearchConfig, Continuation]:
    """The resolved settings that continue the search ``run`` with the settings ``given`` on top (flat names).

    One-line ``ValueError`` for a given setting that changes the trajectory, or a smaller ``epochs``; a larger
    ``epochs`` extends the run (its last stage), see the module's docstring.
    """
    from pyronas.build import resolve_search

    given, old = dict(given), config_of(SEARCH, _versioned(run.config))
    # a setting newer than the run, absent from its resume key, ran at the behaviour before it existed
    old = old.replace(**{name: value for name, value in befores(SEARCH).items() if name not in run.resume_key})
    epochs = given.pop("epochs", None)
    schedule = {name: given.pop(name) for name in FOLDED if name in given}
    base = old.replace(**given)
    if schedule:  # the schedule given anew, at the run's epochs, folds into stages as the run's did
        blank = dict(progressive=False, partial_channels=None, warmup_epochs=None, stages=None)
        base = base.replace(**blank, epochs=None if "stages" in schedule else run.epochs).replace(**schedule)
    new, _, _ = resolve_search(base)
    _refuse_changes(run, new.resume_key(), {**given, **schedule}, new)
    extended = _extensions(run, epochs)
    if extended is not run.extended:  # added epochs go to the last stage
        stages = [dict(s) for s in new["stages"]]
        stages[-1]["epochs"] += epochs - run.epochs
        new, _, _ = resolve_search(new.replace(epochs=epochs, stages=tuple(stages)))
    return new, Continuation(run.resume_key, extended)


def continue_training(run: StoredRun, given: Mapping[str, Any]):
    """As :func:`continue_search`, for a training: ``(resolved TrainConfig, Continuation)``."""
    from pyronas.train import resolved

    given = dict(given)
    epochs = given.pop("epochs", None)
    new = resolved(config_of(TRAINING, _versioned(run.config)).replace(**given))
    _refuse_changes(run, new.resume_key(), given, new)
    extended = _extensions(run, epochs)
    if extended is not run.extended:
        new = new.replace(epochs=epochs)
    return new, Continuation(run.resume_key, extended)


def _extensions(run: StoredRun, epochs: int | None) -> list:
    """The run's extension records, with one more where ``epochs`` is larger than the run's (the same list
    otherwise); one-line ``ValueError`` for fewer."""
    if epochs is None or epochs == run.epochs:
        return run.extended
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < run.epochs:
        shown_epochs = typed("epochs", epochs, run.kind)
        raise ValueError(f"{shown_epochs} is fewer than the run's {run.epochs}: a run can be extended, not "
                         f"shortened; drop it to resume, or start a new run with {_new_out()}")  # fmt: skip
    return [*run.extended, {"epochs_before": run.epochs, "at_epoch": run.epoch, "epochs": epochs}]


def _new_out() -> str:
    return argument("out_dir", "NEW", flag="--out")


def _refuse_changes(run: StoredRun, key: Mapping, given: Mapping, config: Any) -> None:
    """One-line ``ValueError`` naming the first setting whose resolved value leaves the run's trajectory."""
    changed = [name for name in (*key, *run.resume_key) if key.get(name) != run.resume_key.get(name)]
    if not changed:
        return
    first = changed[0]
    name = first if first in given or first != "stages" else next((n for n in FOLDED if n in given), first)
    old = run.config.get(name, run.resume_key.get(name))
    if name not in given and isinstance(old, str) and old.startswith(PYTHON_OBJECT):
        raise ValueError(f"the run's {name} was a Python object ({old[len(PYTHON_OBJECT):]}); give it again "
                         f"({name}=...) to resume")  # fmt: skip
    new = given[name] if name in given else config[name] if name != "stages" else key.get(name)
    raise ValueError(f"{typed(name, new, run.kind)} differs from the run's {shown(old)}; drop it to resume, or start "
                     f"a new run with {_new_out()}")  # fmt: skip


def typed(name: str, value: Any, kind: str = SEARCH) -> str:
    """How the caller gives setting ``name`` = ``value``: its flag on the command line, ``name=value`` from Python."""
    if not on_cli():
        return argument(name, value)
    flag = flags(kind).get(name) or "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else f"no {flag}"
    if isinstance(value, Mapping) and flag == "--option":
        return " ".join(f"{flag} {k}={json.dumps(v)}" for k, v in value.items()) or f"no {flag}"
    return f"{flag} {shown(value)}"


def shown(value: Any) -> str:
    """A setting's value as the caller writes it (JSON on the command line, Python's ``repr`` from Python)."""
    if not on_cli():
        return repr(value)
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


def flags(kind: str) -> dict[str, str]:
    """``{setting: flag}`` of the settings whose flag is not ``--setting-name`` (``out_dir``: ``--out``)."""
    return {name: meta["flag"] for name, meta in _metadata(kind).items() if meta.get("flag")}


def befores(kind: str) -> dict[str, Any]:
    """``{setting: value}`` of the settings newer than some runs: the value that reproduces those runs."""
    return {name: meta["before"] for name, meta in _metadata(kind).items() if "before" in meta}


def _metadata(kind: str) -> dict[str, Mapping]:
    """Each setting's field metadata (help, flag, before, ...), by flat name, nested sections included."""
    if kind == SEARCH:
        root = SearchConfig
    else:
        from pyronas.train_config import TrainConfig

        root = TrainConfig
    found = {}

    def walk(cls):
        for f in dataclasses.fields(cls):
            section = None if f.default_factory is dataclasses.MISSING else f.default_factory
            if dataclasses.is_dataclass(section):
                walk(section)
            else:
                found[f.name] = f.metadata

    walk(root)
    return found
