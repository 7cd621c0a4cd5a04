"""Command-line options derived from the config dataclasses by tyro, so that no option or default is declared twice.

:data:`REGISTRY` is a tyro struct rule that reads the metadata of the fields made with
:func:`pyronas.config.option` (help, ``flag``, ``choices``, ``cli``, ``cli_default``); tyro does the
rest (flags in dash-case, types, choices, ``--help``, errors with exit code 2). Every setting is one flag
(``SearchConfig.dataset`` is ``--dataset``); the arguments of a command that nest a config are flattened by
``tyro.conf.OmitArgPrefixes``. A field
whose default is ``None`` (resolved later) shows its help text's own wording, not "(default: None)";
a ``True`` boolean is switched off by its flag (``progress`` by ``--quiet``); the ``dict`` field is
``--option KEY=VALUE``, repeatable.

Why tyro: jsonargparse (what Lightning's CLI uses) names the flags of nested dataclasses
``--data.dataset`` with underscores (``--weights.weight_lr``), ignores the fields' help metadata and
prints ``(type: int | null, default: null)``; simple-parsing gives dash-case flat flags but crashes on
the ``choices`` key of our metadata, appends ``(default: None)`` and names its file option
``--config_path``. tyro reads ``metadata["help"]``, flattens the sections, keeps every flag name and
lets each field's default hint be replaced.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import tyro
from tyro.constructors import (
    ConstructorRegistry,
    PrimitiveConstructorSpec,
    StructConstructorSpec,
    StructFieldSpec,
    StructTypeInfo,
)

from pyronas.cli_errors import one_line_errors
from pyronas.config import FIELDS, SearchConfig
from pyronas.config_fields import choices_of

MARKERS = (tyro.conf.OmitArgPrefixes, tyro.conf.OmitSubcommandPrefixes, tyro.conf.DisallowNone)
REGISTRY = ConstructorRegistry()


def _pair(args: list[str]) -> tuple[str, Any]:
    key, sep, value = args[0].partition("=")
    if not sep:
        raise ValueError("needs KEY=VALUE, e.g. --option kl_weight=0.1")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


PAIR = PrimitiveConstructorSpec(
    nargs=1,
    metavar="KEY=VALUE",
    instance_from_str=_pair,
    is_instance=lambda x: isinstance(x, tuple) and len(x) == 2,
    str_from_instance=lambda x: [f"{x[0]}={json.dumps(x[1])}"],
)


def _json_object(args: list[str]) -> dict:
    try:
        value = json.loads(args[0])
    except json.JSONDecodeError as e:
        raise ValueError(f"needs a JSON object, e.g. '{{\"lr\": 0.01}}' ({e.msg})") from None
    if not isinstance(value, dict):
        raise ValueError("needs a JSON object, e.g. '{\"lr\": 0.01}'")
    return value


JSON = PrimitiveConstructorSpec(
    nargs=1,
    metavar="JSON",
    instance_from_str=_json_object,
    is_instance=lambda x: isinstance(x, dict),
    str_from_instance=lambda x: [json.dumps(x)],
)


def _is_config(cls: Any) -> bool:
    """A dataclass whose fields were made with :func:`pyronas.config.option` (or nest such sections)."""
    found = dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ()
    return bool(found) and all("help" in f.metadata or _is_config(f.default_factory) for f in found)


def _field_default(f: dataclasses.Field, parent: Any) -> Any:
    if dataclasses.is_dataclass(parent) and not isinstance(parent, type):
        return getattr(parent, f.name)
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _option(f: dataclasses.Field, hint: Any, default: Any) -> tuple[Any, Any]:
    """The annotated type tyro parses for one field, and the default it shows."""
    meta = f.metadata
    if not meta.get("cli", True):
        return Annotated[hint, tyro.conf.Suppress], default
    if default is None and meta.get("cli_default") is not None:
        default = meta["cli_default"]
    name = (meta.get("flag") or "").lstrip("-") or None
    if hint is dict and meta.get("json"):  # --elbo-args '{"alpha": 0.5}'
        conf = tyro.conf.arg(name=name, help=meta["help"], help_behavior_hint="")
        return Annotated[dict, JSON, conf], dict(default)
    if hint is dict:  # --option KEY=VALUE, repeatable
        conf = tyro.conf.arg(name=name, help=meta["help"], help_behavior_hint="")
        return Annotated[tuple[Annotated[tuple, PAIR], ...], conf, tyro.conf.UseAppendAction], tuple(default.items())
    choices = choices_of(meta)
    optional = type(None) in typing.get_args(hint)
    kind = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    kind = Literal[tuple(choices)] if choices else str if kind is Any else kind
    markers, text, hint_text = [], meta["help"], None
    if kind is bool and f.default is not None:
        markers.append(tyro.conf.FlagCreatePairsOff)  # one flag; a field that defaults to True is switched off by it
        default, hint_text = (not default if f.default else default), ""
    elif default is None:
        hint_text = ""  # resolved later: the help text says how
    elif "default: " in text:  # a script's own default replaces the rule the help text states
        text, hint_text = re.sub(r"default: [^)]*\)", f"default: {default})", text), ""
    conf = tyro.conf.arg(name=name, help=text, help_behavior_hint=hint_text)
    return Annotated[(kind | None if optional or default is None else kind, conf, *markers)], default


@REGISTRY.struct_rule
def _config_rule(info: StructTypeInfo) -> StructConstructorSpec | None:
    if not (isinstance(info.type, type) and _is_config(info.type)):
        return None
    hints = typing.get_type_hints(info.type)
    specs, flipped, pairs = [], set(), set()
    for f in dataclasses.fields(info.type):
        default = _field_default(f, info.default)
        if "help" not in f.metadata:  # a nested section
            specs.append(StructFieldSpec(name=f.name, type=hints[f.name], default=default))
            continue
        kind, shown = _option(f, hints[f.name], default)
        if f.default is True:
            flipped.add(f.name)
        if isinstance(default, dict) and not f.metadata.get("json"):
            pairs.add(f.name)
        specs.append(StructFieldSpec(name=f.name, type=kind, default=shown, helptext=f.metadata["help"]))

    def instantiate(**values):
        values.update({k: not values[k] for k in flipped if k in values})
        values.update({k: dict(values[k]) for k in pairs if k in values})
        return info.type(**values)

    return StructConstructorSpec(instantiate=instantiate, fields=tuple(specs))


def parse(
    cls: type, argv: list[str] | None = None, *, error_prog: str | None = None, flags: list[str] | None = None, **kwargs
) -> Any:
    """``cls`` (a dataclass of arguments, config sections included) from ``argv`` (default: ``sys.argv``).

    A command line that does not parse exits with code 2 after one line ``ERROR_PROG: error: ...`` (default
    ``prog``); an unknown flag is matched against ``flags`` (default: :func:`flags_of` ``cls``) for a suggestion.
    ``--help`` prints tyro's help.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = error_prog or kwargs.get("prog") or Path(sys.argv[0]).name
    flags = flags_of(cls) if flags is None and dataclasses.is_dataclass(cls) else flags
    with one_line_errors(argv, prog, flags or ()):
        return tyro.cli(cls, args=argv, config=MARKERS, registry=REGISTRY, **kwargs)


def flags_of(cls: type) -> list[str]:
    """The ``--flags`` of a dataclass of arguments, its config sections included (for "did you mean")."""
    found = []
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        kind = typing.get_args(hints[f.name])[0] if typing.get_origin(hints[f.name]) is Annotated else hints[f.name]
        if dataclasses.is_dataclass(kind):
            found += flags_of(kind)
        elif f.metadata.get("cli", True) and "Positional" not in repr(hints[f.name]):
            found.append(f.metadata.get("flag") or "--" + f.name.replace("_", "-"))
    return found


def search_options(**defaults) -> type:
    """A dataclass of the search settings named (flat names) with these defaults: a script's share of the CLI.

    Its fields keep :class:`~pyronas.config.SearchConfig`'s help, flags and types, so a script such as a
    benchmark declares none of them again; ``search_config(**dataclasses.asdict(options))`` is the config.
    """
    return _options(
        "SearchOptions", typing.get_type_hints(SearchConfig), {name: FIELDS[name] for name in defaults}, defaults
    )


def train_options(**defaults) -> type:
    """As :func:`search_options`, for the settings of :class:`~pyronas.train_config.TrainConfig` (``train(**...)``)."""
    from pyronas.train_config import TrainConfig

    found = {f.name: f for f in dataclasses.fields(TrainConfig)}
    return _options("TrainOptions", typing.get_type_hints(TrainConfig), {k: found[k] for k in defaults}, defaults)


def share_of(command: type, **defaults) -> type:
    """The options named from a command's argument dataclass (``pyronas.cli.ProxiesArgs``), with these defaults.

    Each keeps the command's annotated type (help, choices, flag), so a script declares none of them again.
    """
    hints = typing.get_type_hints(command, include_extras=True)
    fields = [(key, hints[key], dataclasses.field(default=value)) for key, value in defaults.items()]
    return dataclasses.make_dataclass(command.__name__.removesuffix("Args") + "Options", fields, frozen=True)


def _options(name: str, hints: dict, found: dict[str, dataclasses.Field], defaults: dict) -> type:
    fields = []
    for key, value in defaults.items():
        kind = dict(default_factory=lambda v=value: dict(v)) if isinstance(value, dict) else dict(default=value)
        fields.append((key, hints[key], dataclasses.field(**kind, metadata=found[key].metadata)))
    return dataclasses.make_dataclass(name, fields, frozen=True)


def flatten(args: Any) -> dict:
    """A dataclass of arguments as one dict by flat name, its nested sections' fields merged in."""
    flat = {}
    for f in dataclasses.fields(args):
        value = getattr(args, f.name)
        flat.update(flatten(value) if dataclasses.is_dataclass(value) else {f.name: value})
    return flat


def read_config_file(path: str) -> dict:
    """A ``--config`` file: JSON or YAML; one-line ``ValueError`` if unreadable."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"config file {path} does not exist")
    text = file.read_text()
    if file.suffix in (".yaml", ".yml"):
        import yaml

        try:
            record = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"{path} is not valid YAML ({str(e).splitlines()[0]})") from None
    else:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} must hold a mapping of settings")
    return record
