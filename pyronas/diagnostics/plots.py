"""Figures of an architecture posterior: op-probability heat maps, forest plot, traces, the cell.

Every function returns a :class:`matplotlib.figure.Figure`; nothing is shown or saved here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from pyronas.diagnostics._az import az
from pyronas.diagnostics.layout import candidate_names
from pyronas.diagnostics.summary import op_probability_summary, posterior_genotype
from pyronas.spaces import SearchSpace, get_space

EDGE = re.compile(r"^\s*(?P<dst>[^<\s]+)\s*<-\s*(?P<src>\S+)\s*$")


def plot_op_probabilities(idata, hdi_prob: float = 0.94) -> Figure:
    """Heat map of posterior mean op probabilities, edges x ops, one panel per cell type.

    Each cell is annotated with the mean and its HDI (pooled over chains).
    """
    ops = op_probability_summary(idata, hdi_prob)
    cells = list(ops["cell_type"].values)
    names = list(ops["op"].values)
    candidate = candidate_names(idata.posterior["weights"])
    rows_of = {cell: _rows(idata, cell) for cell in cells}
    tallest = max(len(rows) for rows in rows_of.values())
    fig, axes = plt.subplots(
        1, len(cells), figsize=(1.5 + 1.5 * len(names) * len(cells), 1.2 + 0.6 * tallest), squeeze=False
    )
    for ax, cell in zip(axes[0], cells):
        edges = rows_of[cell]
        mean = ops["mean"].sel(cell_type=cell, edge=edges).values
        lo = ops["hdi_lower"].sel(cell_type=cell, edge=edges).values
        hi = ops["hdi_upper"].sel(cell_type=cell, edge=edges).values
        image = ax.imshow(mean, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        for i, edge in enumerate(edges):
            for k, op in enumerate(names):
                if not np.isfinite(mean[i, k]):  # a candidate this row does not have
                    continue
                color = "black" if mean[i, k] > 0.6 else "white"
                name = "" if candidate is None else f"{candidate(cell, edge, op)}\n"
                ax.text(k, i, f"{name}{mean[i, k]:.2f}\n[{lo[i, k]:.2f}, {hi[i, k]:.2f}]", ha="center", va="center",
                        fontsize=7, color=color)  # fmt: skip
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_yticks(range(len(edges)), edges)
        ax.set_xlabel("op")
        ax.set_ylabel("edge")
        ax.set_title(f"{cell}: posterior op probability ({int(100 * hdi_prob)}% HDI)")
        fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    return fig


def plot_forest(idata, hdi_prob: float = 0.94) -> Figure:
    """Forest plot across searches: per mixing weight, each chain's mean and HDI, plus cross-seed R-hat.

    Rows are ``(cell_type, edge, op)``, grouped by edge (shaded bands); colours are chains (seeds).
    The right panel shows the R-hat of each row over all chains, with guides at 1.01 and 1.05.
    """
    w = idata.posterior["weights"]
    chains = w.sizes["chain"]
    seeds = idata.guide["seed"].values if "guide" in idata.groups() else range(chains)
    stats = op_probability_summary(idata, hdi_prob)
    exists = w.isel(chain=0, draw=0).notnull()
    rows = [
        (c, e, o)
        for c in w["cell_type"].values
        for e in w["edge"].values
        for o in w["op"].values
        if bool(exists.sel(cell_type=c, edge=e, op=o))
    ]
    hdis = [az.hdi(w.isel(chain=[c]), hdi_prob=hdi_prob)["weights"] for c in range(chains)]
    means = w.mean("draw")
    fig, (ax, ax_rhat) = plt.subplots(
        1, 2, sharey=True, figsize=(10, 1.5 + 0.26 * len(rows)), gridspec_kw={"width_ratios": [4, 1]}
    )
    height = 0.7 / max(chains, 1)
    for i, (cell, edge, op) in enumerate(rows):
        y = len(rows) - 1 - i
        for c in range(chains):
            yc = y + 0.35 - height * (c + 0.5)
            lo, hi = hdis[c].sel(cell_type=cell, edge=edge, op=op).values
            ax.plot([lo, hi], [yc, yc], color=f"C{c % 10}", lw=1.5)
            ax.plot(float(means.sel(chain=c, cell_type=cell, edge=edge, op=op)), yc, "o", color=f"C{c % 10}", ms=3)
        r_hat = float(stats["r_hat"].sel(cell_type=cell, edge=edge, op=op))
        ax_rhat.plot(r_hat, y, "o", color="C3" if r_hat > 1.05 else "k", ms=4)
    starts = [i for i, row in enumerate(rows) if i == 0 or row[:2] != rows[i - 1][:2]] + [len(rows)]
    for j in range(0, len(starts) - 1, 2):  # shade every other edge
        for a in (ax, ax_rhat):
            a.axhspan(len(rows) - starts[j + 1] - 0.5, len(rows) - starts[j] - 0.5, color="0.93", zorder=0)
    multi_cell = w.sizes["cell_type"] > 1
    candidate = candidate_names(idata.posterior["weights"]) or (lambda cell, edge, op: op)
    labels = [
        f"{cell} {edge} {candidate(cell, edge, op)}" if multi_cell else f"{edge}  {candidate(cell, edge, op)}"
        for cell, edge, op in rows
    ]
    ax.set_yticks(range(len(rows) - 1, -1, -1), labels, fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(f"mixing weight: mean and {int(100 * hdi_prob)}% HDI per search")
    ax.legend(
        handles=[plt.Line2D([], [], color=f"C{c % 10}", marker="o", label=f"seed {seeds[c]}") for c in range(chains)],
        loc="lower right",
        fontsize=8,
    )
    for ref in (1.01, 1.05):
        ax_rhat.axvline(ref, color="0.6", ls="--", lw=0.8)
    ax_rhat.set_xlabel("cross-seed R-hat" if chains > 1 else "R-hat (needs 2+ searches)")
    fig.suptitle(f"op probabilities across {chains} search(es)")
    fig.tight_layout()
    return fig


def plot_traces(idata) -> Figure:
    """Optimisation traces per search: ELBO estimate per step, losses per epoch, op entropy per epoch."""
    hist = idata.optimization
    fig, (ax_step, ax_epoch, ax_entropy) = plt.subplots(1, 3, figsize=(15, 4))
    for c in hist["chain"].values:
        seed = int(idata.guide["seed"].sel(chain=c)) if "guide" in idata.groups() else c
        color = f"C{int(c) % 10}"
        for var, style in (("train_loss_steps", "-"), ("valid_loss_steps", "--")):
            if var in hist:
                ax_step.plot(hist["step"], hist[var].sel(chain=c), style, color=color, lw=0.8,
                             label=f"seed {seed} {var.split('_')[0]}")  # fmt: skip
        for var, style in (("train_loss", "-o"), ("valid_loss", "--s")):
            ax_epoch.plot(hist["epoch"], hist[var].sel(chain=c), style, color=color, ms=3,
                          label=f"seed {seed} {var.split('_')[0]}")  # fmt: skip
        ax_entropy.plot(hist["epoch"], hist["entropy"].sel(chain=c), "-o", color=color, ms=3, label=f"seed {seed}")
    ax_step.set(title="negative ELBO per step (train: weights, valid: architecture)", xlabel="step", ylabel="loss")
    ax_epoch.set(title="mean loss per epoch", xlabel="epoch", ylabel="loss")
    ax_entropy.set(title="mean op entropy per edge", xlabel="epoch", ylabel="entropy (nats)")
    if not ax_step.lines:
        ax_step.text(
            0.5, 0.5, "no per-step losses in these logs", ha="center", va="center", transform=ax_step.transAxes
        )
    for ax in (ax_step, ax_epoch, ax_entropy):
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_op_trajectories(idata, columns: int = 3) -> Figure:
    """Each edge's op probabilities over the epochs: one small panel per edge and cell type, one line per op.

    The searches (chains) share the panels: each op keeps its colour, each chain its line style, so
    seeds that agree draw on top of one another. Read from the ``optimization`` group's ``op_probabilities``.
    """
    hist = idata.optimization
    if "op_probabilities" not in hist:
        raise ValueError("these logs have no per-epoch op probabilities; rerun the searches with this version")
    cells, ops = list(hist["cell_type"].values), list(hist["op"].values)
    candidate = candidate_names(idata.posterior["weights"])
    probs = hist["op_probabilities"]
    rows_of = {cell: [e for e in hist["edge"].values if bool(probs.sel(cell_type=cell, edge=e).notnull().any())]
               for cell in cells}  # fmt: skip
    rows_of = {cell: rows or list(hist["edge"].values) for cell, rows in rows_of.items()}  # no epoch logged yet
    widest = max(len(rows) for rows in rows_of.values())
    cols = min(columns, widest)
    rows_per_cell = -(-widest // cols)
    fig, axes = plt.subplots(
        rows_per_cell * len(cells), cols, figsize=(3.2 * cols, 2.2 * rows_per_cell * len(cells) + 1.0),
        sharex=True, sharey=True, squeeze=False,
    )  # fmt: skip
    styles = ["-", "--", ":", "-."]
    epochs = hist["epoch"].values
    top = float(np.nanmax(hist["op_probabilities"].values, initial=0.0))
    top = 1.0 if top > 0.6 else max(0.3, top + 0.05)  # small movements stay visible
    for t, cell in enumerate(cells):
        edges = rows_of[cell]
        for i, edge in enumerate(edges):
            ax = axes[t * rows_per_cell + i // cols][i % cols]
            own = [k for k, op in enumerate(ops) if candidate is None or candidate(cell, edge, op)]
            for c in hist["chain"].values:
                values = probs.sel(chain=c, cell_type=cell, edge=edge).values  # [epoch, op]
                for k in own:
                    name = ops[k] if candidate is None else candidate(cell, edge, ops[k])
                    ax.plot(epochs, values[:, k], styles[int(c) % len(styles)], color=f"C{k % 10}", lw=1.0,
                            label=name if c == hist["chain"].values[0] else None)  # fmt: skip
            ax.axhline(1.0 / len(own), color="grey", lw=0.5, ls=":")
            ax.set_title(f"{cell} {edge}" if len(cells) > 1 else edge, fontsize=8)
            ax.set_ylim(0.0, top)
            ax.tick_params(labelsize=7)
            if candidate is not None:  # candidates differ per row: each panel names its own
                ax.legend(fontsize=6)
        for j in range(len(edges), rows_per_cell * cols):  # unused panels of the last row
            axes[t * rows_per_cell + j // cols][j % cols].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=8)
    for row in axes:
        row[0].set_ylabel("op probability", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    chains = len(hist["chain"])
    fig.suptitle(f"op probabilities per epoch ({chains} search(es); line style: search)", fontsize=10)
    if candidate is None:
        fig.legend(handles, labels, loc="lower center", ncol=len(ops), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_expected_cost(idata) -> Figure:
    """Expected cost under each search's op probabilities per epoch: one line per search (named by its folder),
    its budget, if any, dashed in its colour. Read from the ``optimization`` group's ``expected_cost``."""
    hist = idata.optimization
    if "expected_cost" not in hist:
        raise ValueError("these logs have no expected cost; run the searches with --cost")
    unknown = np.full(hist.sizes["chain"], np.nan)
    budgets = np.atleast_1d(hist.attrs.get("budgets", unknown))
    weights = np.atleast_1d(hist.attrs.get("cost_weights", unknown))
    has_guide = "guide" in idata.groups()
    fig, ax = plt.subplots(figsize=(6, 4))
    for c in hist["chain"].values:
        name = Path(str(idata.guide["run"].sel(chain=c).values)).name if has_guide else f"search {int(c) + 1}"
        seed = int(idata.guide["seed"].sel(chain=c)) if has_guide else c
        color = f"C{int(c) % 10}"
        values = hist["expected_cost"].sel(chain=c)
        weight = f", weight {weights[int(c)]:g}" if np.isfinite(weights[int(c)]) else ""
        ax.plot(hist["epoch"], values, "-o", color=color, ms=3, label=f"{name} (seed {seed}{weight})")
        if np.isfinite(budgets[int(c)]):
            ax.axhline(budgets[int(c)], color=color, ls="--", lw=0.8, label=f"{name}: budget")
    metric, unit = hist.attrs.get("cost", "cost"), hist.attrs.get("cost_unit", "")
    ax.set(title=f"expected {metric} under the op probabilities", xlabel="epoch", ylabel=f"{metric} ({unit})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def has_cell_graph(space: SearchSpace) -> bool:
    """Whether :func:`plot_cell` can draw the space: one-hot genotypes and every table's rows named ``"dst<-src"``."""
    if type(space).one_hot is SearchSpace.one_hot:
        return False
    return all(EDGE.match(name) for table in space.cell_types for name in space.row_names(table))


def _rows(idata, cell) -> list:
    """The ``edge`` coordinates of the rows ``cell``'s table has (all of them in a cell space)."""
    w = idata.posterior["weights"].sel(cell_type=cell)
    return [e for e in w["edge"].values if bool(w.sel(edge=e).isel(chain=0, draw=0).notnull().any())]


def _node_order(names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: (0, int(n), "") if n.isdigit() else (1, 0, n))


def plot_cell(space: SearchSpace, genotype: str, probabilities: Mapping[str, np.ndarray] | None = None) -> Figure:
    """The cell of ``genotype`` as a graph: nodes, one arrow per kept edge labelled with its op.

    Edge names must read ``"dst<-src"``. ``probabilities`` (``{cell_type: [E, K]}``) adds each
    chosen op's probability to its label. Edges whose op is ``none`` are drawn dotted and grey.
    """
    try:
        chosen = {cell: np.asarray(w) for cell, w in space.one_hot(genotype).items()}
    except NotImplementedError:
        raise ValueError(f"space {space.name!r} cannot map a genotype to edges (no one_hot)") from None
    parsed = [EDGE.match(name) for name in space.edge_names]
    if not all(parsed):
        raise ValueError(f"edge names of space {space.name!r} do not read 'dst<-src'")
    nodes = _node_order(sorted({m["src"] for m in parsed} | {m["dst"] for m in parsed}))
    x = {n: float(i) for i, n in enumerate(nodes)}
    cells = list(chosen)
    span = len(nodes) - 1
    half_height = 0.45 + 0.5 * 0.35 * (1 + 0.1 * span) * span  # the widest arc's bend, plus room for nodes
    fig, axes = plt.subplots(
        len(cells), 1, figsize=(2.6 * len(nodes), (2.6 * 2 * half_height + 0.6) * len(cells)), squeeze=False
    )
    for ax, cell in zip(axes[:, 0], cells):
        for e, m in enumerate(parsed):
            if not chosen[cell][e].any():
                continue
            k = int(chosen[cell][e].argmax())
            op = space.ops[k]
            x1, x2 = x[m["src"]], x[m["dst"]]
            span = abs(x2 - x1)
            rad = 0.0 if span <= 1 else -0.35 * (1 if e % 2 else -1) * (1 + 0.1 * span)
            dotted = op == "none"
            arrow = FancyArrowPatch((x1, 0), (x2, 0), connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                    mutation_scale=14, shrinkA=16, shrinkB=16, lw=1.4,
                                    linestyle=":" if dotted else "-", color="grey" if dotted else f"C{k}")  # fmt: skip
            ax.add_patch(arrow)
            # midpoint of the quadratic Bezier matplotlib draws for arc3
            lx, ly = (x1 + x2) / 2, -0.5 * rad * (x2 - x1)
            label = op if probabilities is None else f"{op}\np={float(probabilities[cell][e][k]):.2f}"
            ax.text(lx, ly, label, ha="center", va="center", fontsize=8,
                    bbox={"boxstyle": "round", "fc": "white", "ec": f"C{k}", "lw": 0.8})  # fmt: skip
        for n in nodes:
            ax.scatter([x[n]], [0], s=700, color="lightsteelblue", edgecolor="black", zorder=3)
            ax.text(x[n], 0, n, ha="center", va="center", fontsize=11, zorder=4)
        ax.set_aspect("equal")  # arc3 bends in display units: equal scales keep labels on their arcs
        ax.set_xlim(-0.6, len(nodes) - 0.4)
        ax.set_ylim(-half_height, half_height)
        ax.set_axis_off()
        ax.set_title(f"{cell}: {genotype}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_posterior_cell(idata) -> Figure:
    """:func:`plot_cell` of the cell derived from the pooled posterior mean, labelled with its probabilities."""
    space = get_space(idata.posterior.attrs["space"])
    mean = idata.posterior["weights"].mean(("chain", "draw"))
    probs = {str(c): mean.sel(cell_type=c).values for c in mean["cell_type"].values}
    return plot_cell(space, posterior_genotype(idata), probs)


__all__ = [
    "has_cell_graph",
    "plot_cell",
    "plot_expected_cost",
    "plot_forest",
    "plot_op_probabilities",
    "plot_posterior_cell",
    "plot_traces",
]
