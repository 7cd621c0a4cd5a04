"""Numbers that summarise an architecture posterior (an ``InferenceData`` from :mod:`.inference_data`).

R-hat and ESS on a variational posterior: every chain is a different search (another seed) and
its draws are independent samples of that search's guide, so there is no Markov chain to
converge. Within-chain spread is the guide's own uncertainty; between-chain spread is
disagreement between searches. R-hat near 1 therefore says that the searches found the same
distribution over ops on that edge; R-hat well above 1 (say > 1.05) says that the result depends
on the seed. Bulk ESS is near ``chains * draws`` when the searches agree and drops towards the
number of chains as they diverge. With one chain R-hat is undefined (NaN); a point-mass guide
(DARTS) has no within-chain spread, so its R-hat is NaN or infinite as well.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import xarray as xr

from pyronas.diagnostics._az import az
from pyronas.diagnostics.layout import candidate_names, layout, widths
from pyronas.spaces import get_space

SAMPLE_DIMS = ("chain", "draw")


def _weights(idata) -> xr.DataArray:
    return idata.posterior["weights"]


def _exists(w: xr.DataArray) -> xr.DataArray:
    """``(cell_type, edge, op)`` true where the space has an entry (padding is NaN in every draw)."""
    return w.isel(chain=0, draw=0, drop=True).notnull()


def _row_max(values: xr.DataArray, exists: xr.DataArray) -> xr.DataArray:
    """Largest value over each row's own candidates (NaN propagates); NaN for a row a table does not have."""
    return values.where(exists, -np.inf).max("op", skipna=False).where(exists.any("op"))


def _split(idata, values: np.ndarray) -> dict[str, torch.Tensor]:
    """A ``(cell_type, edge, op)`` array as the space's tables ``{table: [rows, K]}``."""
    space = get_space(idata.posterior.attrs["space"])
    return layout(space).split(values, widths(space))


def op_probability_summary(idata, hdi_prob: float = 0.94) -> xr.Dataset:
    """Per ``(cell_type, edge, op)``: posterior mean, sd, HDI bounds, cross-seed R-hat and bulk ESS.

    Returns a Dataset with variables ``mean, sd, hdi_lower, hdi_upper, r_hat, ess_bulk``, and the
    per-edge ``edge_r_hat`` (the largest R-hat over the edge's ops) with dims ``(cell_type, edge)``.
    """
    w = _weights(idata)
    exists = _exists(w)
    filled = w.fillna(0.0)  # padding (tables of other shapes) is NaN: ArviZ sees zeros, the results are masked
    hdi = az.hdi(filled, hdi_prob=hdi_prob)["weights"]
    ds = xr.Dataset(
        {
            "mean": w.mean(SAMPLE_DIMS),
            "sd": w.std(SAMPLE_DIMS),
            "hdi_lower": hdi.sel(hdi="lower", drop=True).where(exists),
            "hdi_upper": hdi.sel(hdi="higher", drop=True).where(exists),
            "r_hat": az.rhat(filled)["weights"].where(exists)
            if w.sizes["chain"] > 1
            else xr.full_like(w.isel(chain=0, draw=0, drop=True), np.nan),
            "ess_bulk": az.ess(filled, method="bulk")["weights"].where(exists),
        }
    )
    ds["edge_r_hat"] = _row_max(ds["r_hat"], exists)
    ds.attrs["hdi_prob"] = hdi_prob
    return ds


def edge_entropy(idata, by_chain: bool = False) -> xr.DataArray:
    """Entropy (nats) of each edge's posterior op probabilities, ``-sum_k p_k log p_k``.

    ``p`` is the posterior mean of the mixing weights, pooled over chains (dims
    ``(cell_type, edge)``) or, with ``by_chain``, per search (``(chain, cell_type, edge)``). The
    maximum is ``log(num_ops)``: no preference among ops.
    """
    w = _weights(idata)
    p = w.mean("draw") if by_chain else w.mean(SAMPLE_DIMS)
    return -(p * np.log(p.clip(min=1e-12))).sum("op")


def derived_cells(idata) -> np.ndarray:
    """The genotype each posterior draw derives (the space's own rule), as strings ``[chain, draw]``."""
    space = get_space(idata.posterior.attrs["space"])
    lay, width = layout(space), widths(space)
    w = _weights(idata).transpose("chain", "draw", "cell_type", "edge", "op").sel(cell_type=lay.cell_types).values
    out = np.empty(w.shape[:2], dtype=object)
    for c in range(w.shape[0]):
        for d in range(w.shape[1]):
            out[c, d] = space.derive(lay.split(w[c, d], width))
    return out


def posterior_genotype(idata) -> str:
    """The cell derived from the posterior mean mixing weights pooled over all chains.

    Uses the guides' exact op probabilities (the ``guide`` group) where present, since a Monte Carlo
    mean of draws is too noisy to rank ops of a nearly flat posterior; else the mean of the draws.
    """
    space = get_space(idata.posterior.attrs["space"])
    if "guide" in idata.groups() and "op_probabilities" in idata.guide:
        mean = idata.guide["op_probabilities"].mean("chain")
    else:
        mean = _weights(idata).mean(SAMPLE_DIMS)
    lay = layout(space)
    return space.derive(_split(idata, mean.transpose("cell_type", "edge", "op").sel(cell_type=lay.cell_types).values))


def cell_probability(idata, genotype: str | None = None, cells: np.ndarray | None = None) -> dict:
    """Posterior probability that a draw derives ``genotype`` (default: :func:`posterior_genotype`), with its
    standard error.

    Returns ``{"genotype", "probability" (pooled: the mean over chains), "per_chain" (list), "standard_error",
    "per_chain_standard_error", "method"}``. The guides factorise over edges, so where the cell is one candidate
    per edge (NB201, a network of your own) its probability is the product over edges of the probability that
    the edge derives the cell's candidate:

    - ``"exact"`` where every draw is one-hot (a categorical guide): the product of the guide's op probabilities
      (the ``guide`` group), standard error 0;
    - ``"per-edge monte carlo"`` otherwise (Dirichlet, Normal, point-mass guides): the product of each edge's share
      of draws whose argmax is the cell's candidate, with its delta-method standard error
      ``P * sqrt(sum_e (1 - p_e) / (n p_e))``; a cell no draw derived as a whole still gets the product.

    Where the derivation couples edges (a DARTS node keeps its two strongest inputs) it is ``"share of draws"``,
    the share of draws deriving the cell with the binomial standard error (0 for a cell no draw derived; its
    95 % upper bound is then about ``3 / n``). ``cells`` reuses the output of :func:`derived_cells`.
    """
    space = get_space(idata.posterior.attrs["space"])
    genotype = posterior_genotype(idata) if genotype is None else space.validate(genotype)
    lay = layout(space)
    target = lay.dense({t: v.double().numpy() for t, v in space.one_hot(genotype).items()})  # (cell_type, edge, op)
    exists = ~np.isnan(target)
    rows = exists.any(-1)
    if (np.nan_to_num(target).sum(-1)[rows] == 1).all():  # one candidate per row: the rows derive independently
        w = _weights(idata).transpose("chain", "draw", "cell_type", "edge", "op").sel(cell_type=lay.cell_types).values
        chosen = np.nan_to_num(target).argmax(-1)[rows]  # [rows]
        masked = np.where(exists, np.nan_to_num(w, nan=-np.inf), -np.inf)
        drawn = masked[..., rows, :]  # [chain, draw, rows, K]
        if np.isin(np.nan_to_num(drawn, neginf=0.0), (0.0, 1.0)).all() and "guide" in idata.groups():
            probs = idata.guide["op_probabilities"].sel(cell_type=lay.cell_types).values[:, rows]  # [chain, rows, K]
            per_edge = np.take_along_axis(probs, chosen[None, :, None], -1)[..., 0]
            per_chain, errors, method = per_edge.prod(-1), np.zeros(len(per_edge)), "exact"
        else:
            per_edge = (drawn.argmax(-1) == chosen).mean(1)  # [chain, rows]: each edge's share of draws
            per_chain, n = per_edge.prod(-1), drawn.shape[1]
            with np.errstate(divide="ignore", invalid="ignore"):  # an edge never drawn: no error to give (0)
                relative = np.sqrt(((1 - per_edge) / (n * per_edge)).sum(-1))
                errors = np.where(per_chain > 0, per_chain * relative, 0.0)
            method = "per-edge monte carlo"
    else:
        hits = (derived_cells(idata) if cells is None else cells) == genotype
        per_chain, n = hits.mean(axis=1), hits.shape[1]
        errors, method = np.sqrt(per_chain * (1 - per_chain) / n), "share of draws"
    return {
        "genotype": genotype,
        "probability": float(np.mean(per_chain)),
        "per_chain": [float(v) for v in per_chain],
        "standard_error": float(np.sqrt(np.sum(np.square(errors))) / len(errors)),
        "per_chain_standard_error": [float(v) for v in errors],
        "method": method,
    }


def expected_accuracy(idata, hdi_prob: float = 0.94) -> dict:
    """Benchmark accuracy expected under the posterior, per table column: mean, sd, HDI, per-chain mean.

    Needs ``benchmark_<column>`` variables (``from_runs(..., benchmark=table)``); ``{}`` otherwise.
    """
    out = {}
    for name, values in idata.posterior.data_vars.items():
        if not name.startswith("benchmark_"):
            continue
        hdi = az.hdi(values, hdi_prob=hdi_prob)[name].values
        out[name.removeprefix("benchmark_")] = {
            "mean": float(values.mean()),
            "sd": float(values.std()),
            "hdi": [float(hdi[0]), float(hdi[1])],
            "per_chain_mean": [float(v) for v in values.mean("draw").values],
        }
    return out


def _clean(value):
    """JSON-safe: NaN and infinities become ``None``."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def summarize(idata, hdi_prob: float = 0.94) -> dict:
    """Everything above as one JSON-able dict (what ``pyronas report`` writes as ``summary.json``).

    Per cell type and edge: ``r_hat`` (largest over ops), ``entropy`` and, per op, mean, sd, HDI,
    R-hat and bulk ESS; plus the searches (seed, guide's genotype), the posterior genotype and its
    probability, and the expected benchmark accuracy when the posterior holds one.
    """
    ops = op_probability_summary(idata, hdi_prob)
    entropy = edge_entropy(idata)
    chain_entropy = edge_entropy(idata, by_chain=True)
    names = candidate_names(_weights(idata)) or (lambda cell, edge, op: str(op))
    edges: dict = {}
    for cell in ops["cell_type"].values:
        edges[str(cell)] = {}
        for edge in ops["edge"].values:
            row = ops.sel(cell_type=cell, edge=edge)
            own = [(op, names(cell, edge, op)) for op in ops["op"].values if names(cell, edge, op)]
            if not own:  # a row of another table
                continue
            edges[str(cell)][str(edge)] = {
                "r_hat": float(row["edge_r_hat"]),
                "entropy": float(entropy.sel(cell_type=cell, edge=edge)),
                "entropy_per_chain": [float(v) for v in chain_entropy.sel(cell_type=cell, edge=edge).values],
                "ops": {
                    name: {
                        "mean": float(row["mean"].sel(op=op)),
                        "sd": float(row["sd"].sel(op=op)),
                        "hdi": [float(row["hdi_lower"].sel(op=op)), float(row["hdi_upper"].sel(op=op))],
                        "r_hat": float(row["r_hat"].sel(op=op)),
                        "ess_bulk": float(row["ess_bulk"].sel(op=op)),
                    }
                    for op, name in own
                },
            }
    guide = idata.guide
    cells = derived_cells(idata)
    out = {
        "space": idata.posterior.attrs["space"],
        "methods": idata.posterior.attrs.get("methods", ""),
        "chains": int(idata.posterior.sizes["chain"]),
        "draws": int(idata.posterior.sizes["draw"]),
        "hdi_prob": hdi_prob,
        "searches": [
            {"seed": int(s), "run": str(r), "genotype": str(g), "probability": float((cells[i] == g).mean())}
            for i, (s, r, g) in enumerate(zip(guide["seed"].values, guide["run"].values, guide["genotype"].values))
        ],
        "max_r_hat": float(ops["edge_r_hat"].where(_exists(_weights(idata)).any("op"), -np.inf).max(skipna=False)),
        "derived_cell": cell_probability(idata, cells=cells),
        "edges": edges,
    }
    accuracy = expected_accuracy(idata, hdi_prob)
    if accuracy:
        out["expected_accuracy"] = accuracy
    return _clean(out)
