"""Search spaces: what a cell (or a network's decisions) is, independent of any method or data set.

Spaces are plugins, as methods are: a name maps to a :class:`SearchSpace` class (or an instance, or a factory
of a network holding :class:`~pyronas.nn.Choice` decisions) through the ``pyronas.spaces`` entry-point group
of any installed package (``nb201`` and ``darts`` are declared there too), the modules of this package that
export ``SPACE``, or :func:`register_space` in the running process. Wherever a space name is taken, a
``"package.module:attr"`` path is taken as well (:func:`get_space`).
"""

from __future__ import annotations

import importlib
import importlib.metadata

from pyronas.plugins import PluginRegistry
from pyronas.spaces.base import SearchSpace
from pyronas.spaces.darts import DARTSSpace
from pyronas.spaces.darts_genotype import GenotypeError
from pyronas.spaces.module_space import ModuleSpace
from pyronas.spaces.nb201 import NB201Space
from pyronas.spaces.nb201_cells import CellStringError

ENTRY_POINTS = "pyronas.spaces"


def _space_name(space: object, entry_point: str | None) -> str:
    return entry_point if entry_point is not None else space.name


SPACES = PluginRegistry("pyronas.spaces", "SPACE", ENTRY_POINTS, "space", _space_name)
"""``{name: space class, instance or network factory}``: this package's modules' ``SPACE``, the ``pyronas.spaces``
entry points and :func:`register_space`."""


def register_space(name: str, space: object) -> object:
    """Add a space (class, instance or network factory) to the registry of this process."""
    SPACES[name] = space
    return space


def as_space(obj: object, name: str | None = None) -> SearchSpace:
    """A :class:`SearchSpace` from an instance (as is), a subclass (instantiated) or a network factory
    (``factory(num_classes, in_channels)``, wrapped in :class:`ModuleSpace`, named ``name``)."""
    if isinstance(obj, SearchSpace):
        return obj
    if isinstance(obj, type) and issubclass(obj, SearchSpace):
        return obj()
    if callable(obj):
        return ModuleSpace(obj, name=name)
    raise ValueError(f"{obj!r} is no search space: give a SearchSpace, its class or a network factory")


def _load_path(path: str) -> object:
    module, _, attr = path.partition(":")
    try:
        target = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"search space {path!r} cannot be loaded: {e}") from None
    return target


def get_space(space: str | SearchSpace | object) -> SearchSpace:
    """The search space named ``space``: a registered name (``nb201``, ``darts``, plugins), a
    ``"package.module:attr"`` path to a space class, instance or network factory, or (Python) such an object."""
    if not isinstance(space, str):
        return as_space(space)
    if space in SPACES:
        return as_space(SPACES[space], name=space)
    module, sep, attr = space.partition(":")
    if sep and module and attr:
        return as_space(_load_path(space), name=space)
    raise ValueError(
        f"unknown search space {space!r}; give one of {', '.join(sorted(SPACES))}, a 'package.module:factory' "
        "path or (Python) a SearchSpace"
    )


__all__ = [
    "SPACES",
    "CellStringError",
    "DARTSSpace",
    "GenotypeError",
    "ModuleSpace",
    "NB201Space",
    "SearchSpace",
    "as_space",
    "get_space",
    "register_space",
]
