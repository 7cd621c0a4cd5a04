"""Command-line options derived from config dataclass fields, so that no option or default is declared twice.

Each field made with :func:`pyronas.config.option` becomes one ``argparse`` option: ``--field-name``
(or its ``flag``), typed from the annotation, its choices, and its default written once in the help
(``None`` defaults are resolved later and say so in their help text). Options are parsed with
``default=SUPPRESS``, so :func:`given` returns exactly what the user typed, as flat overrides on top
of a ``--config`` file and the dataclass defaults.

Why argparse rather than jsonargparse (what Lightning's CLI uses): jsonargparse derives nested flags
from nested dataclasses (``--data.dataset``), which would rename every existing flag, and it prints
``None`` for the defaults that only :func:`pyronas.config.resolve` knows (they depend on the method);
deriving from the fields' metadata keeps the flags, shows each default once and adds no dependency.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path


def _type(field: dataclasses.Field):
    text = str(field.type)
    for name, cls in (("bool", bool), ("int", int), ("float", float)):
        if text.split(" |")[0] == name:
            return cls
    return str


def _parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--option needs KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def add_fields(parser: argparse.ArgumentParser, fields: Iterable[dataclasses.Field]) -> None:
    """One option per CLI field (``metadata["cli"]``), its default shown once."""
    for f in fields:
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        choices = meta.get("choices")
        choices = choices() if callable(choices) else choices
        default = meta.get("cli_default") if meta.get("cli_default") is not None else f.default
        kind = _type(f)
        kwargs = dict(dest=f.name, default=argparse.SUPPRESS, help=meta.get("help", ""))
        if flag == "--option":
            parser.add_argument(flag, action="append", type=_parse_option, metavar="KEY=VALUE", **kwargs)
        elif kind is bool and f.default is None:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif kind is bool:
            parser.add_argument(flag, action="store_false" if f.default else "store_true", **kwargs)
        else:
            if default is not None and default is not dataclasses.MISSING:
                kwargs["help"] += f" (default: {default})"
            parser.add_argument(flag, type=kind, choices=choices, **kwargs)


def given(args: argparse.Namespace, fields: Iterable[dataclasses.Field]) -> dict:
    """The options the user gave, by field name; ``--option`` pairs as a dict; CLI-only defaults filled in."""
    out = {}
    for f in fields:
        if f.name in vars(args):
            value = getattr(args, f.name)
            out[f.name] = dict(value) if f.metadata.get("flag") == "--option" else value
    return out


def cli_defaults(fields: Iterable[dataclasses.Field]) -> dict:
    """The defaults the command line sets where Python's differ (``--out runs/search``)."""
    return {f.name: f.metadata["cli_default"] for f in fields if f.metadata.get("cli_default") is not None}


def read_config_file(path: str) -> dict:
    """A ``--config`` file: JSON, or YAML if PyYAML is installed; one-line ``ValueError`` otherwise."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"config file {path} does not exist")
    text = file.read_text()
    if file.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{path}: YAML configs need PyYAML (pip install pyyaml); or write it as .json") from None
        record = yaml.safe_load(text)
    else:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} must hold a mapping of settings")
    return record
