"""Reload a finished search from its output folder: configuration, history and the fitted guide.

A search folder holds ``checkpoint.pt`` (config, model and guide state, history) and
``log.jsonl``. Guides keep their parameters in Pyro's global parameter store, so a run's
guide is only valid inside :meth:`SearchRun.activate`, which gives it a private store; several
runs can then be loaded in one process without overwriting each other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyro
import torch

from pyronas.build import build_pair
from pyronas.config import SearchConfig
from pyronas.infer.checkpoint import load_checkpoint
from pyronas.infer.rundir import CHECKPOINT
from pyronas.registry import get_method
from pyronas.spaces import SearchSpace, get_space


@dataclass
class SearchRun:
    """One reloaded search: its config, per-epoch history and a rebuilt ``(model, guide)`` pair.

    Attributes:
        path: the search folder.
        config: the search configuration stored in the checkpoint (any version).
        space: the search space named in ``config``.
        model, guide: the method's pair with the checkpoint's architecture state loaded.
        history: one dict per completed epoch (as in ``log.jsonl``).
    """

    path: Path
    config: SearchConfig
    space: SearchSpace
    model: torch.nn.Module
    guide: torch.nn.Module
    history: list[dict]
    _store: dict = field(default_factory=lambda: {"params": {}, "constraints": {}}, repr=False)

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def method(self) -> str:
        return str(self.config["method"])

    @contextlib.contextmanager
    def activate(self) -> Iterator[SearchRun]:
        """Context in which the guide's parameters are this run's (a private Pyro param store)."""
        with pyro.get_param_store().scope(self._store):
            yield self

    def op_probabilities(self) -> dict[str, torch.Tensor]:
        """The guide's op probabilities ``{cell_type: [E, K]}`` (as the search logged them)."""
        with self.activate():
            return {cell: p.detach().cpu().clone() for cell, p in self.guide.op_probabilities().items()}

    def genotype(self) -> str:
        """The cell the search derived from its op probabilities."""
        return self.space.derive(self.op_probabilities())


def _without_supernet(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith("supernet.")}


def load_run(path: str | os.PathLike) -> SearchRun:
    """Rebuild a search's model and guide from ``path/checkpoint.pt``.

    Only the architecture part of the model is restored (the supernet is rebuilt small and left
    untrained): posterior draws need ``model.arch()`` and the guide, never the supernet.
    Raises ``ValueError`` with a one-line reason if ``path`` is not a finished search folder.
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder; pass the --out folder of a search")
    if not (path / CHECKPOINT).is_file():
        raise ValueError(f"{path} has no {CHECKPOINT}; pass the --out folder of a search that completed an epoch")
    state = load_checkpoint(path / CHECKPOINT)
    stored = state.get("config") or {}
    if "method" not in stored or "space" not in stored:
        raise ValueError(f"{path / CHECKPOINT} does not name its method and space")
    config = SearchConfig.from_json(stored)
    history = list(state.get("history") or [])
    if not history:
        raise ValueError(f"{path} holds no completed epoch; nothing to diagnose")
    space = get_space(config["space"])
    supernet = space.supernet(channels=int(config["channels"]), cells_per_stage=1, num_classes=2)
    guide = config["guide"]  # a guide class named in the config (a CLI name) is rebuilt; objects are not
    run = SearchRun(path, config, space, None, None, history=history)
    with run.activate():
        run.model, run.guide = build_pair(
            get_method(config["method"]), supernet, space, config["method_options"], guide
        )
        run.model.load_state_dict(_without_supernet(state["model"]), strict=False)
        run.guide.load_state_dict(state["guide"])
        with torch.no_grad():  # materialise lazily created parameters in this run's store
            pyro.poutine.trace(run.guide).get_trace()
    return run
