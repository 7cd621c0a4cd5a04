"""Inference: model+guide primitives, bilevel SVI and the search loop."""

from pyronas.infer.bilevel import BilevelSVI, is_weight
from pyronas.infer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pyronas.infer.elbo import DeviceTrace_ELBO, NotReparameterizedError
from pyronas.infer.primitives import classify, kl_weight
from pyronas.infer.record import op_entropy
from pyronas.infer.search import Search, SearchDiverged, seed_everything
from pyronas.infer.stages import Stage

__all__ = [
    "BilevelSVI",
    "CheckpointError",
    "DeviceTrace_ELBO",
    "NotReparameterizedError",
    "Search",
    "SearchDiverged",
    "Stage",
    "classify",
    "is_weight",
    "kl_weight",
    "load_checkpoint",
    "op_entropy",
    "save_checkpoint",
    "seed_everything",
]
