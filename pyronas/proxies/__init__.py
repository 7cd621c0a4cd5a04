"""Zero-cost proxies: training-free scores of a cell's network at initialisation.

``PROXIES`` maps a name to ``function(network, images, labels) -> float`` (higher is better);
:func:`score` builds a cell's network with a seeded initialisation and applies some of them.
"""

from pyronas.proxies.registry import ALIASES, PROXIES, proxy_names
from pyronas.proxies.scoring import output_csv, proxy_batch, read_cells, score, score_cells, write_csv

__all__ = [
    "ALIASES",
    "PROXIES",
    "output_csv",
    "proxy_batch",
    "proxy_names",
    "read_cells",
    "score",
    "score_cells",
    "write_csv",
]
