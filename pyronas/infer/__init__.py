"""Inference: model+guide primitives, bilevel SVI and the search loop."""

from pyronas.infer.bilevel import BilevelSVI, is_weight
from pyronas.infer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pyronas.infer.primitives import classify, kl_weight
from pyronas.infer.search import Search, SearchDiverged, op_entropy, seed_everything

__all__ = [
    "BilevelSVI",
    "CheckpointError",
    "Search",
    "SearchDiverged",
    "classify",
    "is_weight",
    "kl_weight",
    "load_checkpoint",
    "op_entropy",
    "save_checkpoint",
    "seed_everything",
]
