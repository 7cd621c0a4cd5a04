"""What a setting carries besides its type and default: the metadata :func:`option` puts on a config field.

The command line (:mod:`pyronas.cli_options`), the typed check (:mod:`pyronas.config_types`) and the resume key
(:meth:`pyronas.config.SearchConfig.resume_key`) read it. Nothing here imports torch: choice lists that need
plugins come from entry-point names (:func:`method_names`).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import field
from typing import Any

NOT_GIVEN = object()  # a field's ``before`` that was not given (``None`` is a value runs before it had)


def option(
    default: Any = None,
    help: str = "",
    *,
    section: str = "",
    flag: str | None = None,
    choices=None,
    cli: bool = True,
    trajectory: bool = True,
    cli_default: Any = None,
    factory=None,
    before: Any = NOT_GIVEN,
    json: bool = False,
) -> Any:
    """A config field with the metadata the CLI, the typed check and the resume key read.

    ``section``: the part of a search it belongs to (groups ``--help`` only; every name is flat);
    ``flag``: the CLI option (default ``--field-name``); ``choices``: a tuple, or a callable returning one;
    ``cli=False``: Python (and config files) only; ``trajectory=False``: left out of the resume key;
    ``cli_default``: the command line's default where it differs (``--out runs/search``); ``before``: the value
    that reproduces runs made before the field existed (left out of the resume key, so their checkpoints resume);
    ``json``: a ``dict`` field given on the command line as one JSON object (``--elbo-args '{"alpha": 0.5}'``).
    """
    meta = dict(help=help, section=section, flag=flag, choices=choices, cli=cli, trajectory=trajectory)
    meta["cli_default"] = cli_default
    if before is not NOT_GIVEN:
        meta["before"] = before
    if json:
        meta["json"] = True
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def choices_of(meta: Any) -> tuple | None:
    """A field's choices (called if given as a callable), or ``None``."""
    choices = meta.get("choices")
    return tuple(choices()) if callable(choices) else choices


def method_names() -> tuple[str, ...]:
    """The methods by name, without importing any: registered in this process, or installed as entry points."""
    from pyronas.registry import ENTRY_POINTS, METHODS

    found = set(METHODS.names()) | {p.name for p in importlib.metadata.entry_points(group=ENTRY_POINTS)}
    return tuple(sorted(found))
