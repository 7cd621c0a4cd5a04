"""The typed check of settings: each value against its field's annotation and choices, one line per bad value.

One place for Python keywords, config files (YAML, JSON) and records read back: ``bool`` is no integer, an integer
is a number, ``None`` only where the annotation allows it, a path (``os.PathLike``) is a text, a list is a tuple.
"""

from __future__ import annotations

import functools
import numbers
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any


class SettingError(ValueError):
    """A setting whose value is of the wrong type or no choice; the message is one line naming both."""


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


KINDS: dict[Any, tuple[typing.Callable[[Any], bool], str]] = {  # annotation -> (test, what a value must be)
    int: (_is_int, "an integer"),
    float: (_is_real, "a number"),
    bool: (lambda v: isinstance(v, bool), "true or false"),
    str: (lambda v: isinstance(v, (str, os.PathLike)), "a text"),
    dict: (lambda v: isinstance(v, Mapping), "a mapping of names to values"),
    tuple: (lambda v: isinstance(v, (list, tuple)), "a list"),
    list: (lambda v: isinstance(v, (list, tuple)), "a list"),
}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def kinds(hint: Any) -> tuple[list[Any], bool]:
    """The annotations a value may have (``Any`` as ``[]``: anything) and whether ``None`` is allowed."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        return [typing.get_origin(a) or a for a in args if a is not type(None)], type(None) in args
    if hint is Any:
        return [], True
    return [typing.get_origin(hint) or hint], False


def problem(value: Any, hint: Any, choices: tuple | None = None) -> str | None:
    """What ``value`` must be for ``hint`` (and ``choices``), or ``None`` if it is fine."""
    allowed, optional = kinds(hint)
    if value is None:
        return None if optional else " or ".join(KINDS[k][1] for k in allowed if k in KINDS)
    tests = [KINDS[k] for k in allowed if k in KINDS]
    if allowed and len(tests) == len(allowed) and not any(test(value) for test, _ in tests):
        return " or ".join(what for _, what in tests) + (" (or none)" if optional else "")
    if choices and isinstance(value, str) and value not in choices:
        return "one of: " + ", ".join(map(str, choices)) + (" (or none)" if optional else "")
    return None


def check_value(name: str, value: Any, hint: Any, choices: tuple | None, command: str) -> None:
    """Raise :class:`SettingError` for a ``value`` of setting ``name`` that ``hint`` or ``choices`` refuse."""
    must = problem(value, hint, choices)
    if must is not None:
        raise SettingError(f"{name} = {value!r} is not valid: it must be {must}; see pyronas {command} --help")


def check_fields(config: Any, command: str) -> None:
    """Check every field of a settings dataclass against its annotation and its choices (first bad one raises)."""
    hints = _hints(type(config))
    for f in fields(config):
        choices = f.metadata.get("choices")
        static = choices if isinstance(choices, tuple) else None  # a plugin list is checked where it is loaded
        check_value(f.name, getattr(config, f.name), hints[f.name], static, command)
