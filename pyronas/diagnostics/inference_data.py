"""Architecture posteriors of one or many searches as ArviZ ``InferenceData``.

Each search is one chain: its guide is sampled ``num_draws`` times and every draw is mapped to
mixing weights by replaying the model's ``arch()`` on the guide trace (the supernet never runs).
Groups:

- ``posterior``: ``weights`` with dims ``(chain, draw, cell_type, edge, op)`` (NaN-padded where the
  space's tables differ in rows or candidates, :mod:`.layout`) and, when a
  benchmark table is given, one ``benchmark_<column>`` variable ``(chain, draw)`` per accuracy
  the table reports for the cell each draw derives;
- ``optimization``: the search history, per epoch (``train_loss``, ``valid_loss``,
  ``train_acc``, ``valid_acc``, ``entropy``, and ``expected_cost`` for cost-aware searches, its unit and
  budget in the group's attributes; dims ``(chain, epoch)``) and per step (the ELBO
  estimates ``train_loss_steps``, ``valid_loss_steps``; dims ``(chain, step)``) and the guide's op
  probabilities at the end of every epoch, ``op_probabilities`` ``(chain, epoch, cell_type, edge, op)``
  (the trajectory of the search), NaN-padded where searches ran for different lengths;
- ``guide``: per chain, the guide's own ``op_probabilities`` ``(chain, cell_type, edge, op)``,
  the ``genotype`` it derives, ``seed`` and ``run`` (the search folder).

Attributes name the space and the method, so summaries can rebuild the space after a round
trip through netCDF (``idata.to_netcdf(path)`` / ``arviz.from_netcdf(path)``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence

import numpy as np
import torch
import xarray as xr
from pyro import poutine

from pyronas.costs.units import UNITS, reported
from pyronas.diagnostics._az import az
from pyronas.diagnostics.layout import Layout, layout
from pyronas.diagnostics.runs import SearchRun, load_chains

EPOCH_VARS = ("train_loss", "valid_loss", "train_acc", "valid_acc", "entropy")
STEP_VARS = ("train_loss_steps", "valid_loss_steps")
COST_VAR = "expected_cost"  # logged by cost-aware searches only


def draw_weights(run: SearchRun, num_draws: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``num_draws`` posterior draws of the mixing weights ``{cell_type: [num_draws, E, K]}``.

    Draws come from the guide (``poutine.trace``) replayed through ``model.arch()``; the global
    torch RNG is left as it was.
    """
    out: dict[str, list[np.ndarray]] = {cell: [] for cell in run.space.cell_types}
    with run.activate(), torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for _ in range(num_draws):
            trace = poutine.trace(run.guide).get_trace()
            weights = poutine.replay(run.model.arch, trace=trace)()
            for cell in out:
                out[cell].append(weights[cell].detach().cpu().double().numpy())
    return {cell: np.stack(values) for cell, values in out.items()}


def _padded(rows: Sequence[Sequence[float | None]]) -> np.ndarray:
    length = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), length), np.nan)
    for i, row in enumerate(rows):
        out[i, : len(row)] = [math.nan if v is None else float(v) for v in row]
    return out


def history_dataset(runs: Sequence[SearchRun]) -> xr.Dataset:
    """The optimisation history of each run (one chain each) as a Dataset; see the module docstring."""
    data = {}
    costed = any(COST_VAR in r for run in runs for r in run.history)
    for var in EPOCH_VARS + ((COST_VAR,) if costed else ()):
        data[var] = (("chain", "epoch"), _padded([[r.get(var) for r in run.history] for run in runs]))
    steps = {var: [_epoch_steps(run.history, var) for run in runs] for var in STEP_VARS}
    if any(any(rows) for rows in steps.values()):
        length = max(len(row) for rows in steps.values() for row in rows)
        for var, rows in steps.items():
            data[var] = (("chain", "step"), _padded([row + [None] * (length - len(row)) for row in rows]))
    epochs = max(len(run.history) for run in runs)
    coords = {"chain": np.arange(len(runs)), "epoch": np.arange(1, epochs + 1)}
    if "train_loss_steps" in data:
        coords["step"] = np.arange(data["train_loss_steps"][1].shape[1])
    lay = layout(runs[0].space)
    trajectory = np.full((len(runs), epochs, *lay.shape), np.nan)
    for c, run in enumerate(runs):
        for e, record in enumerate(run.history):
            probs = record.get("op_probabilities") or {}
            known = {cell: p for cell, p in probs.items() if cell in lay.cell_types}
            if known:
                trajectory[c, e] = lay.dense(known)
    data["op_probabilities"] = (("chain", "epoch", "cell_type", "edge", "op"), trajectory)
    coords.update(_coords(lay))
    return xr.Dataset(data, coords=coords, attrs=_cost_attrs(runs) if costed else {})


def _cost_attrs(runs: Sequence[SearchRun]) -> dict:
    """``cost`` (the metric, or metrics joined by commas), ``cost_unit``, the runs' ``budgets`` (reported units, NaN
    for none) and ``cost_weights`` (NaN for none) of cost-aware searches."""
    metrics = [run.config["cost"] for run in runs]
    known = sorted({m for m in metrics if m is not None})
    budgets = [math.nan if m is None or run.config["budget"] is None else reported(run.config["budget"], m)
               for run, m in zip(runs, metrics)]  # fmt: skip
    unit = UNITS[known[0]][1] if len(known) == 1 else "reported units"
    weights = [math.nan if run.config["cost_weight"] is None else float(run.config["cost_weight"]) for run in runs]
    return {"cost": ",".join(known), "cost_unit": unit, "budgets": np.array(budgets), "cost_weights": np.array(weights)}


def _coords(lay: Layout) -> dict:
    """``cell_type``, ``edge``, ``op`` coordinates, and ``candidate`` names where tables differ (module docstring)."""
    coords = {"cell_type": lay.cell_types, "edge": lay.edges, "op": lay.ops}
    if not lay.uniform:
        coords["candidate"] = (("cell_type", "edge", "op"), lay.candidates)
    return coords


def _epoch_steps(history: Sequence[dict], var: str) -> list[float | None]:
    """Per-step losses of ``var`` over all epochs on one step axis shared by both step variables.

    An epoch contributes as many entries as its longest step list; the shorter one is padded at
    the front with ``None`` (an epoch of warm-up has no architecture steps).
    """
    out: list[float | None] = []
    for record in history:
        length = max(len(record.get(v) or []) for v in STEP_VARS)
        values = list(record.get(var) or [])
        out += [None] * (length - len(values)) + values
    return out


def _benchmark_draws(space, weights: dict[str, np.ndarray], table) -> dict[str, np.ndarray]:
    """Per-draw benchmark accuracies of the derived cells: ``{column: [chains, draws]}``."""
    chains, draws = next(iter(weights.values())).shape[:2]
    cache: dict[str, dict] = {}
    out: dict[str, np.ndarray] = {}
    for c in range(chains):
        for d in range(draws):
            genotype = space.derive({cell: torch.from_numpy(w[c, d]) for cell, w in weights.items()})
            if genotype not in cache:
                cache[genotype] = table.accuracies(genotype)
            for key, value in cache[genotype].items():
                out.setdefault(key, np.full((chains, draws), np.nan))[c, d] = np.nan if value is None else value
    return out


def from_runs(
    runs: Iterable[SearchRun | str | os.PathLike],
    *,
    num_draws: int = 500,
    seed: int = 0,
    benchmark=None,
) -> az.InferenceData:
    """InferenceData of the architecture posteriors of one or several searches (one chain each).

    Args:
        runs: search folders or loaded :class:`SearchRun` objects, each search once, all of one method and
            space (:func:`~pyronas.diagnostics.runs.check_chains`).
        num_draws: posterior draws per chain.
        seed: draws of chain ``c`` use seed ``seed + c``.
        benchmark: optional table with ``accuracies(genotype) -> {column: value}`` (e.g.
            :class:`pyronas.benchmarks.NB201Table`); adds ``benchmark_<column>`` to the posterior.
    """
    if num_draws < 1:
        raise ValueError(f"num_draws must be >= 1, got {num_draws}")
    runs = load_chains(runs)
    space = runs[0].space
    lay = layout(space)
    chain_draws = [draw_weights(run, num_draws, seed + c) for c, run in enumerate(runs)]
    weights = {cell: np.stack([d[cell] for d in chain_draws]) for cell in space.cell_types}
    coords = {"chain": np.arange(len(runs)), "draw": np.arange(num_draws), **_coords(lay)}
    posterior = {"weights": (("chain", "draw", "cell_type", "edge", "op"), lay.dense(weights))}
    if benchmark is not None:
        for key, values in _benchmark_draws(space, weights, benchmark).items():
            posterior[f"benchmark_{key}"] = (("chain", "draw"), values)
    probs = [run.op_probabilities() for run in runs]
    guide = {
        "op_probabilities": (
            ("chain", "cell_type", "edge", "op"),
            np.stack([lay.dense({cell: p[cell].double().numpy() for cell in space.cell_types}) for p in probs]),
        ),
        "genotype": ("chain", np.array([space.derive(p) for p in probs], dtype=str)),
        "seed": ("chain", np.array([run.seed for run in runs])),
        "run": ("chain", np.array([str(run.path) for run in runs], dtype=str)),
    }
    guide_coords = {k: v for k, v in coords.items() if k != "draw"}
    attrs = {
        "space": space.name,
        "methods": ",".join(sorted({run.method for run in runs})),
        "num_draws": num_draws,
        "draw_seed": seed,
    }
    return az.InferenceData(
        attrs=attrs,
        posterior=xr.Dataset(posterior, coords=coords, attrs=attrs),
        optimization=history_dataset(runs),
        guide=xr.Dataset(guide, coords=guide_coords),
    )
