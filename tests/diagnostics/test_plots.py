import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from pyronas.diagnostics import (  # noqa: E402
    from_runs,
    plot_cell,
    plot_forest,
    plot_op_probabilities,
    plot_op_trajectories,
    plot_posterior_cell,
    plot_traces,
)
from pyronas.spaces import get_space  # noqa: E402

SPACE = get_space("nb201")
CELL = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def idata(drnas_runs):
    return from_runs(drnas_runs, num_draws=50)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_heat_map_shows_posterior_means_per_cell_type(idata):
    fig = plot_op_probabilities(idata)
    heat = [ax for ax in fig.axes if ax.images]
    assert len(heat) == len(SPACE.cell_types)
    shown = heat[0].images[0].get_array()
    np.testing.assert_allclose(shown, idata.posterior["weights"].mean(("chain", "draw")).values[0])
    assert [t.get_text() for t in heat[0].get_yticklabels()] == list(SPACE.edge_names)


def test_forest_has_one_interval_per_chain_and_weight(idata):
    fig = plot_forest(idata)
    ax, ax_rhat = fig.axes
    rows = len(SPACE.edge_names) * len(SPACE.ops)
    intervals = [line for line in ax.lines if len(line.get_xdata()) == 2]
    assert len(intervals) == 3 * rows
    assert len(ax_rhat.lines) == rows + 2  # one R-hat per row and the two guide lines


def test_traces_plot_steps_epochs_and_entropy(idata):
    fig = plot_traces(idata)
    ax_step, ax_epoch, ax_entropy = fig.axes
    assert len(ax_step.lines) == 3 * 2 and len(ax_epoch.lines) == 3 * 2 and len(ax_entropy.lines) == 3
    np.testing.assert_allclose(ax_entropy.lines[0].get_ydata(), idata.optimization["entropy"].sel(chain=0))


def test_cell_graph_labels_every_edge_with_its_op():
    fig = plot_cell(SPACE, CELL)
    (ax,) = fig.axes
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(SPACE.edge_names)
    texts = _texts(fig)
    for op in ("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1"):
        assert op in texts
    assert sorted(t for t in texts if t.isdigit()) == ["0", "1", "2", "3"]
    dotted = [a for a in arrows if a.get_linestyle() not in ("-", "solid")]
    assert len(dotted) == 1  # the one `none` edge


def test_posterior_cell_is_labelled_with_probabilities(idata):
    texts = _texts(plot_posterior_cell(idata))
    assert sum(t.count("p=") for t in texts) == len(SPACE.edge_names)


def test_trajectories_draw_each_edge_s_op_probabilities_per_epoch(idata, drnas_runs):
    fig = plot_op_trajectories(idata)
    panels = [ax for ax in fig.axes if ax.lines]
    assert len(panels) == len(SPACE.edge_names) and [ax.get_title() for ax in panels] == list(SPACE.edge_names)
    chains, ops = len(idata.optimization["chain"]), len(SPACE.ops)
    assert all(len(ax.lines) == chains * ops + 1 for ax in panels)  # + the uniform reference line
    # the line of chain 1, edge 3<-1, op nor_conv_3x3 is that search's logged trajectory
    log = [json.loads(line) for line in (drnas_runs[1] / "log.jsonl").read_text().splitlines()]
    edge, op = SPACE.edge_names.index("3<-1"), SPACE.ops.index("nor_conv_3x3")
    line = panels[edge].lines[1 * ops + op]
    np.testing.assert_allclose(line.get_ydata(), [r["op_probabilities"]["cell"][edge][op] for r in log])
