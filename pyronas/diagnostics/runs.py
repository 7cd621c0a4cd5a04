"""Reload a finished search from its output folder: configuration, history and the fitted guide.

A search folder holds ``checkpoint.pt`` (config, model and guide state, history) and
``log.jsonl``. Guides keep their parameters in Pyro's global parameter store, so a run's
guide is only valid inside :meth:`SearchRun.activate`, which gives it a private store; several
runs can then be loaded in one process without overwriting each other. :func:`load_chains` loads several
as the chains of one posterior and refuses (:func:`check_chains`) the same search twice or mixed
methods or spaces.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyro
import torch

from pyronas.build import build_pair
from pyronas.config import SearchConfig
from pyronas.found import CALIBRATION_BATCHES, checkpoint_supernet, found_network, run_genotype, training_half
from pyronas.infer.checkpoint import SUPERNET_STATE, load_checkpoint
from pyronas.infer.rundir import CHECKPOINT
from pyronas.registry import get_method
from pyronas.spaces import SearchSpace, get_space


@dataclass
class SearchRun:
    """One reloaded search: its config, per-epoch history and the trained ``(model, guide)`` pair over its supernet.

    Attributes:
        path: the search folder.
        config: the search configuration stored in the checkpoint (any version).
        space: the search space named in ``config``.
        model, guide: the method's pair with the checkpoint's state loaded; call them (``pyro.infer.Predictive``,
            ``poutine.trace``) inside :meth:`activate`.
        history: one dict per completed epoch (as in ``log.jsonl``).
        supernet: the model's supernet with the checkpoint's trained weights, in eval mode.
    """

    path: Path
    config: SearchConfig
    space: SearchSpace
    model: torch.nn.Module
    guide: torch.nn.Module
    history: list[dict]
    supernet: torch.nn.Module | None = None
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

    def network(
        self,
        inherit_weights: bool = True,
        *,
        genotype: str | None = None,
        calibration: int = CALIBRATION_BATCHES,
        plain: bool = True,
        **network,
    ) -> torch.nn.Module:
        """The standalone network of the search's cell (``result.json``'s, else :meth:`genotype`), or of ``genotype``.

        With ``inherit_weights`` it carries the checkpoint's supernet weights of its ops, BatchNorm recalibrated
        on ``calibration`` batches of the search's training half; otherwise it is freshly initialised. As
        :meth:`pyronas.api.SearchResult.network` (:func:`pyronas.found.found_network`).
        """
        genotype = run_genotype(self.path, self.genotype()) if genotype is None else genotype
        data, supernet = training_half(self.config), None
        if inherit_weights:
            state = load_checkpoint(self.path / CHECKPOINT)
            sizes = dict(num_classes=data.num_classes, in_channels=data.in_channels)
            supernet = checkpoint_supernet(self.space, self.config, state, **sizes)
        return found_network(
            self.space, self.config, genotype, supernet, inherit_weights=inherit_weights, calibration=calibration,
            plain=plain, data=data, **network,
        )  # fmt: skip


def _without_supernet(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith(SUPERNET_STATE)}


KNOWN_SIZES = {"digits": (10, 1), "cifar10": (10, 3), "cifar100": (100, 3)}  # data set -> (classes, image channels)


def _data_sizes(config: SearchConfig) -> dict:
    """The supernet's ``num_classes`` and ``in_channels`` for the search's data set (``folder`` data are read)."""
    known = KNOWN_SIZES.get(config["dataset"])
    if known is None:
        data = training_half(config)
        known = (data.num_classes, data.in_channels)
    return dict(num_classes=known[0], in_channels=known[1])


def load_run(path: str | os.PathLike) -> SearchRun:
    """Rebuild a search's trained model, guide and supernet from ``path/checkpoint.pt``.

    The supernet is the search's (its channels, cells and the stages it went through) with the checkpoint's
    weights; its classes and image channels are the data set's (read from the data for ``folder`` data).
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
    supernet = checkpoint_supernet(space, config, state, **_data_sizes(config))
    guide = config["guide"]  # a guide class named in the config (a CLI name) is rebuilt; objects are not
    run = SearchRun(path, config, space, None, None, history=history, supernet=supernet)
    with run.activate():
        run.model, run.guide = build_pair(
            get_method(config["method"]), supernet, space, config["method_options"], guide
        )
        run.model.load_state_dict(_without_supernet(state["model"]), strict=False)
        run.guide.load_state_dict(state["guide"])
        with torch.no_grad():  # materialise lazily created parameters in this run's store
            pyro.poutine.trace(run.guide).get_trace()
    return run


def _timeless(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


def _check_folders(paths: Sequence[Path]) -> None:
    seen: dict[Path, Path] = {}
    for path in paths:
        key = path.resolve()
        if key in seen:
            same = "twice" if path == seen[key] else f"twice ({seen[key]} and {path})"
            raise ValueError(f"search folder {key} is given {same}; pass each search once (one chain per search)")
        seen[key] = path


def check_chains(runs: Sequence[SearchRun]) -> None:
    """Refuse searches that cannot be the chains of one posterior; raises ``ValueError`` with a one-line reason.

    Each search may appear once: not the same folder twice, nor a copy of one (a folder whose settings,
    seed and history, timings aside, equal another's). All must share one search space and one method.
    """
    if not runs:
        raise ValueError("no search folders given")
    _check_folders([run.path for run in runs])
    for i, run in enumerate(runs):
        for other in runs[:i]:
            if run.config == other.config and _timeless(run.history) == _timeless(other.history):
                raise ValueError(
                    f"{run.path} holds the same search as {other.path} (same settings, seed and history); "
                    "a copy is not a second chain: pass one of them"
                )
    first = runs[0]
    for run in runs[1:]:
        if run.space.name != first.space.name:
            raise ValueError(
                f"searches in different spaces cannot be chains of one posterior: {first.path} is {first.space.name}, "
                f"{run.path} is {run.space.name}; report each space separately"
            )
        if run.method != first.method:
            raise ValueError(
                f"searches of different methods cannot be chains of one posterior: {first.path} is {first.method}, "
                f"{run.path} is {run.method}; report each method separately"
            )


def load_chains(runs: Iterable[SearchRun | str | os.PathLike]) -> list[SearchRun]:
    """Search folders (or loaded runs) as the chains of one posterior, checked by :func:`check_chains`.

    Folders given twice are refused before anything is loaded.
    """
    runs = list(runs)
    if not runs:
        raise ValueError("no search folders given")
    _check_folders([r.path if isinstance(r, SearchRun) else Path(r) for r in runs])
    loaded = [r if isinstance(r, SearchRun) else load_run(r) for r in runs]
    check_chains(loaded)
    return loaded
