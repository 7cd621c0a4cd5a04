"""``pyronas report``: the diagnostics of one or several searches as PNG files and ``summary.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from pyronas.diagnostics.inference_data import from_runs
from pyronas.diagnostics.plots import (
    has_cell_graph,
    plot_expected_cost,
    plot_forest,
    plot_op_probabilities,
    plot_op_trajectories,
    plot_posterior_cell,
    plot_traces,
)
from pyronas.diagnostics.summary import summarize
from pyronas.errors import ensure_folder, writing
from pyronas.spaces import get_space
from pyronas.validate import check_out_dir


def default_report_dir(out_dirs: Sequence[str | os.PathLike]) -> Path:
    """``OUT_DIR/report`` for one search; ``<common parent>/report`` for several."""
    paths = [Path(p).resolve() for p in out_dirs]
    if len(paths) == 1:
        return paths[0] / "report"
    return Path(os.path.commonpath(paths)) / "report"


def write_report(
    out_dirs: Sequence[str | os.PathLike],
    dest: str | os.PathLike | None = None,
    *,
    num_draws: int = 500,
    seed: int = 0,
    benchmark=None,
    hdi_prob: float = 0.94,
) -> dict[str, Path]:
    """Write the figures, ``summary.json`` and ``posterior.nc`` (the InferenceData) into ``dest``.

    Args:
        out_dirs: search folders; each is one chain of the posterior.
        dest: output folder (default :func:`default_report_dir`).
        num_draws, seed: posterior draws per search and their seed.
        benchmark: optional table with ``accuracies(genotype)`` for the expected accuracy.
        hdi_prob: probability mass of the credible intervals.

    Returns ``{file name: path}`` of everything written; a ``dest`` that cannot be written is a one-line
    ``ValueError`` before the draws, a failed write a one-line :class:`~pyronas.errors.OutputError`.
    """
    dest = default_report_dir(out_dirs) if dest is None else Path(dest)
    check_out_dir(dest)  # before the draws: a path that is not a writable folder is a one-line error
    idata = from_runs(out_dirs, num_draws=num_draws, seed=seed, benchmark=benchmark)
    ensure_folder(dest)
    figures = {
        "op_probabilities.png": lambda: plot_op_probabilities(idata, hdi_prob),
        "forest.png": lambda: plot_forest(idata, hdi_prob),
        "traces.png": lambda: plot_traces(idata),
        "trajectories.png": lambda: plot_op_trajectories(idata),
    }
    if "expected_cost" in idata.optimization:  # cost-aware searches
        figures["expected_cost.png"] = lambda: plot_expected_cost(idata)
    if has_cell_graph(get_space(idata.posterior.attrs["space"])):  # a network of your own has no cell graph
        figures["cell.png"] = lambda: plot_posterior_cell(idata)
    written = {}
    with matplotlib.rc_context({"figure.dpi": 100}):
        for name, plot in figures.items():
            fig = plot()
            try:
                with writing(dest / name):
                    fig.savefig(dest / name, bbox_inches="tight")
            finally:
                plt.close(fig)
            written[name] = dest / name
    summary = summarize(idata, hdi_prob)
    with writing(dest / "summary.json"):
        (dest / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    written["summary.json"] = dest / "summary.json"
    with writing(dest / "posterior.nc"):
        idata.to_netcdf(str(dest / "posterior.nc"))
    written["posterior.nc"] = dest / "posterior.nc"
    return written
