"""Pyro ELBOs by name (``--elbo RenyiELBO --elbo-args '{"alpha": 0.5}'``), with four short names.

A name is a short name (``trace``, ``meanfield``, ``tracegraph``, ``device``) or the class name of any
ELBO in ``pyro.infer`` (``Trace_ELBO``, ``RenyiELBO``, ``TraceTailAdaptive_ELBO``, ...);
:func:`make_elbo` builds it with keyword arguments and refuses wrong ones in one line.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping

import pyro.infer
from pyro.infer import Trace_ELBO, TraceGraph_ELBO, TraceMeanField_ELBO
from pyro.infer.elbo import ELBO

from pyronas.infer.elbo import DeviceTrace_ELBO

SHORT = {
    "trace": Trace_ELBO,
    "meanfield": TraceMeanField_ELBO,
    "tracegraph": TraceGraph_ELBO,
    "device": DeviceTrace_ELBO,  # Trace_ELBO for pathwise guides, without a host-device sync per step
}


@functools.cache
def elbo_names() -> tuple[str, ...]:
    """The short names, then every ELBO class of ``pyro.infer`` by name (the abstract ``ELBO`` left out)."""
    found = (getattr(pyro.infer, n) for n in sorted(dir(pyro.infer)))
    classes = [c.__name__ for c in found if isinstance(c, type) and issubclass(c, ELBO) and c is not ELBO]
    return (*SHORT, *sorted(set(classes)))


def elbo_class(name: str) -> type:
    """The ELBO class of a short name or a ``pyro.infer`` class name; one-line ``ValueError`` otherwise."""
    if name in SHORT:
        return SHORT[name]
    if name not in elbo_names():
        raise ValueError(f"unknown ELBO {name!r}; choose one of: {', '.join(elbo_names())}")
    return getattr(pyro.infer, name)


def make_elbo(name: str, args: Mapping | None = None) -> ELBO:
    """The ELBO ``name`` built with ``args``; a wrong argument is a one-line ``ValueError`` naming the allowed ones."""
    cls, args = elbo_class(name), dict(args or {})
    try:
        return cls(**args)
    except TypeError as e:
        allowed = [p for p in inspect.signature(cls).parameters if p != "self"]
        raise ValueError(f"--elbo-args {args} do not fit {name} ({e}); its arguments: {', '.join(allowed)}") from None
    except (ValueError, AssertionError) as e:
        raise ValueError(f"--elbo-args {args} are refused by {name}: {e}") from None
