"""Posterior diagnostics: architecture posteriors as ArviZ InferenceData, summaries, plots, reports."""

from pyronas.diagnostics.inference_data import draw_weights, from_runs, history_dataset
from pyronas.diagnostics.plots import (
    plot_cell,
    plot_expected_cost,
    plot_forest,
    plot_op_probabilities,
    plot_op_trajectories,
    plot_posterior_cell,
    plot_traces,
)
from pyronas.diagnostics.report import write_report
from pyronas.diagnostics.runs import SearchRun, load_run
from pyronas.diagnostics.summary import (
    cell_probability,
    derived_cells,
    edge_entropy,
    expected_accuracy,
    op_probability_summary,
    posterior_genotype,
    summarize,
)

__all__ = [
    "SearchRun",
    "cell_probability",
    "derived_cells",
    "draw_weights",
    "edge_entropy",
    "expected_accuracy",
    "from_runs",
    "history_dataset",
    "load_run",
    "op_probability_summary",
    "plot_cell",
    "plot_expected_cost",
    "plot_forest",
    "plot_op_probabilities",
    "plot_op_trajectories",
    "plot_posterior_cell",
    "plot_traces",
    "posterior_genotype",
    "summarize",
    "write_report",
]
