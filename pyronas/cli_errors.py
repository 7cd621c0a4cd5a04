"""Command-line parse errors in one line, in the form of every other error: ``pyronas search: error: ...``.

tyro reports a rejected command line in a box of several lines. :func:`one_line_errors` hooks its parse
errors (``tyro._errors.on_parse_error``, private in tyro 1.0: without it tyro's box stays) and turns each
into a :class:`UsageError` naming the flag, the value given and what is allowed; ``--help`` is unchanged.
"""

from __future__ import annotations

import contextlib
import difflib
import sys
import typing
from collections.abc import Iterator, Sequence
from typing import Any, Literal

try:
    from tyro import _errors as tyro_errors
except ImportError:  # a tyro without parse-error hooks: its own boxes remain
    tyro_errors = None

NEEDS = {"INT": "an integer", "FLOAT": "a number", "STR": "a value", "PATH": "a path"}


class UsageError(ValueError):
    """A command line that does not parse; the message is one line."""


def _flag(argument: Any) -> str:
    lowered = getattr(argument, "lowered", None)
    flags = getattr(lowered, "name_or_flags", None) or ()
    return flags[0] if flags else str(argument.display_name())


def _metavar(argument: Any) -> str:
    return str(getattr(getattr(argument, "lowered", None), "metavar", "") or "")


def _given(argv: Sequence[str], flag: str) -> str | None:
    """The value given to ``flag`` last in ``argv`` (``--flag VALUE`` or ``--flag=VALUE``)."""
    found = None
    for i, token in enumerate(argv):
        if token == flag and i + 1 < len(argv):
            found = argv[i + 1]
        elif token.startswith(flag + "="):
            found = token[len(flag) + 1 :]
    return found


def _choices(choices: Sequence[str]) -> str:
    return ", ".join(c for c in choices if c != "None")  # an optional choice is left out by leaving the flag out


def _declared(kind: Any) -> tuple[str, ...] | None:
    """The values of the first ``Literal`` inside an (annotated, optional) type, in their declared order."""
    if typing.get_origin(kind) is Literal:
        return tuple(str(v) for v in typing.get_args(kind))
    for inner in typing.get_args(kind):
        found = _declared(inner)
        if found:
            return found
    return None


def _suggest(tokens: Sequence[str], flags: Sequence[str]) -> str:
    for token in tokens:
        close = difflib.get_close_matches(token.split("=")[0], flags, n=1, cutoff=0.7) if token.startswith("-") else []
        if close:
            return f"; did you mean {close[0]}?"
    return ""


def describe(event: Any, argv: Sequence[str], prog: str, flags: Sequence[str] = ()) -> str | None:
    """One line for a tyro parse-error event, or ``None`` to leave the event to tyro."""
    E = tyro_errors
    if isinstance(event, E.InvalidChoice):
        flag = _flag(event.argument)
        choices = _declared(getattr(getattr(event.argument, "field", None), "type", None)) or sorted(event.choices)
        return f"{flag} {event.value!r} is not a choice; choose one of: {_choices(choices)}"
    if isinstance(event, E.InstantiationFailure):
        message = event.message.strip().splitlines()[0] if event.message.strip() else "invalid value"
        if event.argument is None:
            return message
        flag, metavar = _flag(event.argument), _metavar(event.argument)
        value = _given(argv, flag)
        given = f" {value!r}" if value is not None else ""
        what = NEEDS.get(metavar.split()[0] if metavar else "")
        if what is not None and message.startswith(("no type matching", "could not convert", "invalid literal")):
            return f"{flag}{given} needs {what}"
        return f"{flag}{given} {message}" if message.startswith("needs ") else f"{flag}{given}: {message}"
    if isinstance(event, E.BadValue):
        flag, metavar = _flag(event.argument), _metavar(event.argument)
        if event.offending_value is not None:
            return f"{flag} takes no value, got {event.offending_value!r}"
        return f"{flag} needs a value ({NEEDS.get(metavar, metavar or 'see --help')})"
    if isinstance(event, E.UnrecognizedArgs):
        suggestion = _suggest(event.tokens, flags) or f"; see {prog} --help"
        return f"unrecognized argument(s): {' '.join(event.tokens)}{suggestion}"
    if isinstance(event, E.MissingArgs):
        names = [_metavar(a.arg) or _flag(a.arg) for a in event.missing_arguments]
        return f"missing {', '.join(names)}; see {prog} --help"
    if isinstance(event, E.MissingSubcommand):
        return f"choose a command: {_choices(tuple(event.subcommand_spec.parser_from_name))}"
    return None


@contextlib.contextmanager
def one_line_errors(argv: Sequence[str], prog: str, flags: Sequence[str] = ()) -> Iterator[None]:
    """Within it, a tyro parse error prints ``PROG: error: <one line>`` to stderr and exits with code 2.

    ``prog`` names the command (``pyronas search``); ``flags`` are matched against an unknown flag.
    """
    if tyro_errors is None or not hasattr(tyro_errors, "on_parse_error"):
        yield
        return

    def hook(event: Any) -> None:
        message = describe(event, argv, prog, flags)
        if message is not None:
            raise UsageError(message)

    try:
        with tyro_errors.on_parse_error(hook):
            yield
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
