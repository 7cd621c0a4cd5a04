"""The Python API behind the CLI: one call resolves a config, builds the search, runs it, selects and writes."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import pyro
import torch

from pyronas.build import Resolved, SearchParts, arch_optimizer, build_search, resolve_search
from pyronas.config import SearchConfig
from pyronas.costs import expected_cost
from pyronas.data import Batches, ImageData
from pyronas.found import CALIBRATION_BATCHES, found_network
from pyronas.infer import Search
from pyronas.infer.checkpoint import save_json
from pyronas.infer.claim import claim
from pyronas.infer.distributed import launched_by_torchrun
from pyronas.proxies import proxy_batch
from pyronas.select import ARGMAX, VALID, select_by_validation, select_cell
from pyronas.spaces import get_space

__all__ = ["SearchResult", "arch_optimizer", "build_search", "named_probabilities", "search"]


@dataclass
class SearchResult:
    """What a search found; written as ``result.json`` (``config`` as :meth:`SearchConfig.to_json`).

    ``model``, ``guide`` and ``supernet`` are the trained objects (not in the JSON); the guide's parameters live in
    the search's own Pyro param store, so call them inside :meth:`activate`
    (``with result.activate(): pyro.infer.Predictive(result.model, guide=result.guide, num_samples=8)(images)``).
    """

    method: str
    space: str
    dataset: str
    seed: int
    epochs: int
    genotype: str
    op_probabilities: dict
    benchmark: dict | None
    seconds: float
    argmax_genotype: str | None = None  # the guide's argmax cell; equals ``genotype`` under select="argmax"
    argmax_benchmark: dict | None = None
    selection: dict | None = None  # selection among drawn cells: rule, samples, candidates, scores
    method_summary: dict | None = None  # the model's and guide's ``summary()``, merged, for those that have one
    cost: dict | None = None  # a cost-aware search's settings and the measured costs of its cells (``_costs``)
    config: SearchConfig = field(default_factory=SearchConfig)
    history: list = field(default_factory=list, repr=False)
    supernet: torch.nn.Module | None = field(default=None, repr=False, compare=False)  # trained; not in the JSON
    model: torch.nn.Module | None = field(default=None, repr=False, compare=False)
    guide: torch.nn.Module | None = field(default=None, repr=False, compare=False)
    store: dict | None = field(default=None, repr=False, compare=False)  # the search's param store state

    @contextlib.contextmanager
    def activate(self) -> Iterator[SearchResult]:
        """Context in which Pyro's param store holds this search's parameters: call :attr:`model` and :attr:`guide`
        (``Predictive``, ``poutine.trace``) inside it."""
        if self.store is None:
            raise ValueError("this result holds no param store (it was read from result.json); use "
                             "pyronas.load_run(out_dir) for the trained model and guide")  # fmt: skip
        with pyro.get_param_store().scope(self.store):
            yield self

    def to_json(self) -> dict:
        skip = ("history", "config", "supernet", "model", "guide", "store")
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        return {**out, "config": self.config.to_json()}  # no deep copy of the config's Python objects

    def network(
        self, inherit_weights: bool = True, *, calibration: int = CALIBRATION_BATCHES, plain: bool = True, **network
    ) -> torch.nn.Module:
        """The standalone network of :attr:`genotype` at the search's size (:func:`pyronas.found.found_network`).

        With ``inherit_weights`` it carries the trained supernet's weights of its ops (this result's supernet,
        else the checkpoint in ``config.out_dir``), BatchNorm recalibrated on ``calibration`` batches of the
        search's training half, in eval mode; otherwise it is freshly initialised. ``plain``: a
        :class:`torch.fx.GraphModule` of ``torch.nn`` modules only; else the space's network class.
        """
        options = dict(inherit_weights=inherit_weights, calibration=calibration, plain=plain, **network)
        if inherit_weights and self.supernet is None and self.config["out_dir"] is not None:
            from pyronas.diagnostics import load_run

            return load_run(self.config["out_dir"]).network(genotype=self.genotype, **options)
        return found_network(get_space(self.space), self.config, self.genotype, self.supernet, **options)


def named_probabilities(space, probs: dict[str, torch.Tensor]) -> dict:
    """``{table: {row: {candidate: p}}}`` from ``{table: [rows, K]}`` tensors, named by the space (a cell space:
    ``{cell: {edge: {op: p}}}``)."""
    return {
        table: {row: {name: round(v, 6) for name, v in values.items()} for row, values in space.named(table, p).items()}
        for table, p in probs.items()
    }


def search(config: SearchConfig | Mapping | str | None = None, **overrides) -> SearchResult:
    """Run an architecture search: resolve ``config`` -> build -> run -> select -> write ``result.json``.

    ``config`` is a :class:`~pyronas.config.SearchConfig`, a mapping of its fields (nested or flat) or a
    method name; ``overrides`` replace fields by their flat names (``epochs=4``, ``out_dir="runs/x"``; see
    ``pyronas search --help`` for all, with their defaults). Python also accepts objects where the CLI
    takes names: ``guide=`` a Pyro guide object or class (``AutoNormal``) for the architecture sites,
    ``elbo=`` an ELBO instance, ``arch_optim=`` / ``weight_optim=`` Pyro optimizers. With ``out_dir``
    the search writes ``log.jsonl``, ``checkpoint.pt`` (each epoch) and ``result.json``; ``resume``
    continues from the checkpoint there. ``select`` picks the final cell (:mod:`pyronas.select`). ``cost``
    (``"params"``, ``"flops"``, ``"latency"``) with ``cost_weight`` and ``budget`` (``"0.5M"``, ``"5ms"``) makes the
    search cost-aware (:mod:`pyronas.costs.objective`); :attr:`SearchResult.cost` then holds the cell's costs.

    Every setting is checked before anything is loaded or written; an ``out_dir`` holding a previous run is
    refused unless ``resume`` or ``overwrite`` is given, and one that another command is writing is refused
    (:func:`pyronas.infer.claim.claim`).
    """
    resolved = resolve_search(config, **overrides)
    c = resolved.config
    writer = not launched_by_torchrun() or os.environ.get("RANK", "0") == "0"  # rank 0 writes
    with claim(c["out_dir"], "search", resume=c["resume"], overwrite=c["overwrite"], write=writer):
        return _search(resolved)


def _search(resolved: Resolved) -> SearchResult:
    parts = build_search(resolved)
    c, world = parts.config, parts.world
    runner = parts.runner()
    start = time.perf_counter()
    history = runner.run(resume=c["resume"])  # in the search's own param store
    seconds = sum(record["seconds"] for record in history) if history else time.perf_counter() - start
    with parts.activate(), _after_search(runner):
        argmax = parts.space.derive(runner.op_probabilities())
        derived = runner.genotype()  # the argmax, or with a budget the most probable cell within it
        selection = None if c["select"] == ARGMAX else _select_final(parts)
        genotype = derived if selection is None else selection.pop("genotype")
        summary = _summary(parts.model, parts.guide)
        probs = named_probabilities(parts.space, runner.op_probabilities())
        cost = None if parts.cost is None else _costs(parts, runner, genotype, argmax)
    query = (lambda cell: None) if parts.table is None else parts.table.query
    result = SearchResult(
        c["method"], parts.space.name, c["dataset"], c["seed"], c["epochs"], genotype, probs, query(genotype), seconds,
        argmax_genotype=argmax, argmax_benchmark=query(argmax), selection=selection, method_summary=summary,
        cost=cost, config=c, history=history, supernet=parts.supernet, model=parts.model, guide=parts.guide,
        store=parts.store,
    )  # fmt: skip
    if c["out_dir"] is not None and world.is_main:
        save_json(result.to_json(), Path(c["out_dir"]) / "result.json")
    return result


def _costs(parts: SearchParts, runner: Search, genotype: str, argmax: str) -> dict:
    """A cost-aware search's record: its settings (:meth:`~pyronas.costs.objective.SearchCost.settings`), the
    expected cost under the final op probabilities, and the measured costs of the cell (and of the argmax
    cell where it differs)."""
    cost = parts.cost
    record = {**cost.settings(), "expected": float(expected_cost(cost.table, runner.op_probabilities()))}
    record["genotype"] = cost.measure(genotype)
    if argmax != genotype:
        record["argmax_genotype"] = cost.measure(argmax)
    return record


def _summary(*parts: object) -> dict | None:
    """The merged ``summary()`` of the model and guide (those that have one), or ``None``."""
    merged = {}
    for part in parts:
        if callable(getattr(part, "summary", None)):
            merged.update(part.summary() or {})
    return merged or None


@contextlib.contextmanager
def _after_search(runner: Search) -> Iterator[None]:
    """Context of the steps after the last epoch: Ctrl-C says that the checkpoint holds every epoch."""
    try:
        yield
    except KeyboardInterrupt as e:
        if type(e) is not KeyboardInterrupt:
            raise
        raise runner.recorder.interrupted() from None


def _select_final(parts: SearchParts) -> dict:
    """Pick the final cell among ``samples`` cells drawn from the guide by the ``select`` rule (``"valid"`` or
    ``"proxy:..."``), on un-augmented images of the architecture half normalised like the training batches.

    Returns :mod:`pyronas.select`'s record, with the pick under ``"genotype"``.
    """
    config, train, arch_half = parts.config, parts.train, parts.arch_half
    model, guide, supernet, search_space = parts.model, parts.guide, parts.supernet, parts.space
    rule, samples, select_batches = config["select"], config["samples"], config["select_batches"]
    device, seed, batch_size = train.device, config["seed"], config["batch_size"]
    if rule == VALID:  # scored on the architecture half, BatchNorm recalibrated per cell on the weight half

        def plain(data: ImageData) -> list:
            shared = dict(mean=train.mean, std=train.std, device=device, channels_last=config["channels_last"])
            return list(itertools.islice(Batches(data, batch_size, augment=False, seed=seed, **shared), select_batches))

        batches, calibration = plain(arch_half), plain(parts.weights_half)
        return select_by_validation(
            model, guide, search_space, supernet, samples, batches, seed=seed, calibration=calibration
        )
    images, labels = proxy_batch(arch_half, batch_size, seed=seed, mean=train.mean, std=train.std, device=device)
    return select_cell(
        model,
        guide,
        search_space,
        rule,
        samples,
        images,
        labels,
        seed=seed,
        channels=config["channels"],
        cells_per_stage=config["cells_per_stage"],
        num_classes=arch_half.num_classes,
    )
