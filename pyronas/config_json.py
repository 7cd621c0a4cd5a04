"""Settings to and from JSON: the versioned record, the records of older runs, and the resume key.

A record is ``{"version": 2, <setting>: <value>, ...}``. Older records read back: nested ones (a mapping per
section), and version 1 (the flat resolved configs of checkpoints and ``result.json`` before version 2).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

VERSION = 2
PYTHON_OBJECT = "python:"  # how a Python object (a guide class, an ELBO) is recorded: by its class
FOLDED = ("warmup_epochs", "progressive", "partial_channels")  # settings the resume key holds as its stages


def jsonable(value: Any) -> Any:
    """``value`` as JSON: paths as text, mappings and sequences inside out, other objects as their class's name."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    cls = value if isinstance(value, type) else type(value)
    return f"{PYTHON_OBJECT}{cls.__module__}.{cls.__qualname__}"


def space_name(space: Any) -> str:
    """A space as configs record it: its name or path (a space object or factory by the name it was given)."""
    if isinstance(space, str):
        return space
    from pyronas.spaces import SearchSpace
    from pyronas.spaces.module_space import factory_path

    if isinstance(space, SearchSpace):
        return space.name
    if isinstance(space, type):
        return getattr(space, "name", None) or jsonable(space)
    return (factory_path(space) if callable(space) else None) or jsonable(space)


def stage_dicts(stages: Any) -> tuple[dict, ...]:
    """Stages (:class:`~pyronas.infer.stages.Stage` objects or dicts of their fields) as complete dicts."""
    from pyronas.infer.stages import as_stages

    return tuple(dataclasses.asdict(s) for s in as_stages(stages))


def to_json(config: Mapping) -> dict:
    """The record of a config: every setting by name, the space by its name."""
    return {"version": VERSION, **{k: space_name(v) if k == "space" else jsonable(v) for k, v in config.items()}}


def read_record(record: Mapping, known: Mapping[str, Any]) -> dict:
    """The settings of a record of any version, by flat name (``known``: the setting names)."""
    record = dict(record)
    version = record.pop("version", 1)
    if version > VERSION:
        raise ValueError(f"config version {version} is newer than this pyronas reads ({VERSION}); upgrade pyronas")
    flat = {}
    for key, value in record.items():  # a nested record: one mapping per section
        flat.update(value if isinstance(value, Mapping) and key not in known else {key: value})
    if version == 1:
        flat = _from_v1(flat, known)
    if isinstance(flat.get("stages"), list):  # JSON's list is the field's tuple
        flat["stages"] = tuple(flat["stages"])
    # Python objects cannot be rebuilt from their class name, except a guide class (its state then loads)
    return {k: v for k, v in flat.items() if k == "guide" or not (isinstance(v, str) and v.startswith(PYTHON_OBJECT))}


def _from_v1(flat: dict, known: Mapping[str, Any]) -> dict:
    """A version-1 config (already resolved; stages only when a schedule ran) in version 2's terms."""
    flat = {k: v for k, v in flat.items() if k in known}  # hand-made configs may hold keys of their own
    if "stages" not in flat and "epochs" in flat:
        flat["stages"] = [{"epochs": flat["epochs"], "warmup_epochs": flat.get("warmup_epochs", 0)}]
    if "stages" in flat:
        flat["warmup_epochs"] = None
    return flat


def resume_key(config: Mapping, fields: Mapping[str, dataclasses.Field]) -> dict:
    """The settings of ``config`` that change a search's trajectory, normalised so that older runs' keys match.

    Left out: settings marked ``trajectory=False``, those folded into the stages, and those at the value that
    reproduces runs made before the setting existed (its ``before``).
    """
    key = {name: jsonable(config[name]) for name, f in fields.items() if f.metadata.get("trajectory", True)}
    key["space"] = space_name(config["space"])
    key["stages"] = [dict(s) for s in stage_dicts(config["stages"])] if config["stages"] else []
    for name in FOLDED:
        key.pop(name)
    for name, f in fields.items():
        if "before" in f.metadata and key.get(name) in (None, f.metadata["before"]):
            key.pop(name)
    return key
