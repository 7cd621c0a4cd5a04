"""Search spaces: what a cell is, independent of any method or data set."""

from pyronas.spaces.base import SearchSpace
from pyronas.spaces.darts import DARTSSpace
from pyronas.spaces.darts_genotype import GenotypeError
from pyronas.spaces.nb201 import NB201Space
from pyronas.spaces.nb201_cells import CellStringError

SPACES: dict[str, type[SearchSpace]] = {"nb201": NB201Space, "darts": DARTSSpace}


def get_space(name: str) -> SearchSpace:
    """The search space registered as ``name``."""
    try:
        return SPACES[name]()
    except KeyError:
        raise ValueError(f"unknown search space {name!r}; choose one of: {', '.join(SPACES)}") from None


__all__ = ["SPACES", "CellStringError", "DARTSSpace", "GenotypeError", "NB201Space", "SearchSpace", "get_space"]
