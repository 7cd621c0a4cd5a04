"""Who is calling, the command line or Python, so that a message names what that caller types.

:func:`pyronas.cli.main` runs each command inside :func:`from_cli`; everywhere else :func:`argument`
writes a Python keyword (``resume=True``) instead of a flag (``--resume``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_CLI = contextvars.ContextVar("pyronas_cli", default=False)
_UNSET = object()


@contextlib.contextmanager
def from_cli() -> Iterator[None]:
    """Context of a command-line call: :func:`argument` writes flags."""
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)


def on_cli() -> bool:
    """Whether the current call came from the command line (inside :func:`from_cli`)."""
    return _CLI.get()


def argument(name: str, value=_UNSET, *, flag: str | None = None) -> str:
    """How the caller sets ``name``: ``--name VALUE`` (a ``True`` switch: ``--name``) on the command line,
    ``name=value`` from Python. ``flag`` replaces the flag's name where it differs (``--out``)."""
    if _CLI.get():
        flag = flag or "--" + name.replace("_", "-")
        return flag if value is _UNSET or value is True else f"{flag} {value}"
    return name if value is _UNSET else f"{name}={value!r}"
