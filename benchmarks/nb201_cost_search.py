"""Cost-aware search on NAS-Bench-201 under parameter budgets, beside the table's best and two no-search baselines.

Each search runs the 20-minute CPU protocol of ``nb201_cpu_search.py`` (CIFAR-10 at 16 px, C=8, one cell per
stage, 20 epochs, batch 64) with ``--cost params --budget B`` counted on NB201's own network (C=16, five cells per
stage, 32 px: ``--cost-size``), so a found cell's parameters are the table's ``params_m``. Per budget it reports:

``table best``   the best CIFAR-10 test accuracy of any cell within the budget (the table's Pareto front);
``largest``      the cells with the most parameters within the budget (mean over ties);
``training-free`` per seed, the best of 100 uniformly random cells within the budget by ``nwot+synflow``,
                 scored as in ``nb201_cpu_search.py`` (protocol-size network, one batch of the architecture half);
each method's found cells (mean and sd over seeds) and whether every one respects the budget.

    python benchmarks/nb201_cost_search.py --budgets 0.5 --methods drnas --seeds 0,1,2      # search
    python benchmarks/nb201_cost_search.py --budgets 0.5,0.25 --collect --plot docs/x.png  # tables, plot

Runs go to ``--runs`` (default ``benchmarks/runs/cost``) as ``<method>-b<budget>-s<seed>``; an existing
run folder with a ``result.json`` is skipped, so the command resumes a sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nb201_cpu_search as cpu  # noqa: E402  (the protocol's baselines and data)

from pyronas.api import search  # noqa: E402
from pyronas.benchmarks import NB201Table  # noqa: E402
from pyronas.data import Batches, load_dataset, split_halves  # noqa: E402
from pyronas.proxies import proxy_batch  # noqa: E402
from pyronas.select import best_by_proxies  # noqa: E402
from pyronas.spaces import get_space  # noqa: E402

TABLE = cpu.SHARED / "data" / "nb201" / "nb201_accuracy.csv"
PROTOCOL = dict(  # the 20-minute CPU protocol (benchmarks/RESULTS.md)
    dataset="folder",
    data_dir=str(cpu.SHARED / "data" / "cifar10" / "cifar10-train-jpeg.zip"),
    image_size=16,
    epochs=20,
    cells_per_stage=1,
    channels=8,
    batch_size=64,
    channels_last=True,
    benchmark=str(TABLE),
)
NB201_NETWORK = {"channels": 16, "cells_per_stage": 5, "image_size": 32}  # the network the table trained


def run_dir(runs: Path, method: str, budget: float, seed: int) -> Path:
    return runs / f"{method}-b{budget:g}-s{seed}"


def run_search(method: str, budget: float, seed: int, runs: Path) -> None:
    """One budgeted search, unless its folder already holds a result."""
    out = run_dir(runs, method, budget, seed)
    if (out / "result.json").is_file():
        print(f"{out} done; skipped", flush=True)
        return
    start = time.perf_counter()
    search(method, **PROTOCOL, seed=seed, cost="params", budget=f"{budget}M", cost_size=NB201_NETWORK,
           progress=False, out_dir=out, resume=(out / "checkpoint.pt").is_file())  # fmt: skip
    print(f"{out}: {time.perf_counter() - start:.0f} s", flush=True)


def within(table: NB201Table, budget: float) -> list[dict]:
    return [row for row in table if row["params_m"] <= budget + 1e-9]


def random_within(cells: list[str], count: int, seed: int) -> list[str]:
    """``count`` cells drawn uniformly (with replacement) among ``cells``, seeded."""
    rng = random.Random(seed)
    return [rng.choice(cells) for _ in range(count)]


def training_free(cells: list[str], seed: int) -> str:
    """The best of ``cells`` by ``nwot+synflow``, scored as the CPU protocol's training-free baseline."""
    data = load_dataset(PROTOCOL["dataset"], PROTOCOL["data_dir"], image_size=PROTOCOL["image_size"])
    weights_half, arch_half = split_halves(data, size=None)
    train = Batches(weights_half, PROTOCOL["batch_size"], seed=seed)
    images, labels = proxy_batch(arch_half, PROTOCOL["batch_size"], seed=seed, mean=train.mean, std=train.std)
    pick = best_by_proxies(list(dict.fromkeys(cells)), cpu.TF_RULE, images, labels, seed=seed,
                           channels=PROTOCOL["channels"], cells_per_stage=PROTOCOL["cells_per_stage"])  # fmt: skip
    return pick["genotype"]


def mean_sd(values: list[float]) -> str:
    """Mean +- sample standard deviation; the value alone for one (no spread to show)."""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} +- {statistics.stdev(values):.2f}"


def collect(budgets, methods, seeds, runs: Path, table: NB201Table, samples: int) -> list[dict]:
    """Print per-run rows and the per-budget table; returns the rows (found cells and baselines) for the plot."""
    rows = []
    print("\n| budget (M) | method | seed | cell | params (M) | within | CIFAR-10 | expected cost (M) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for budget in budgets:
        for method in methods:
            for seed in seeds:
                path = run_dir(runs, method, budget, seed) / "result.json"
                if not path.is_file():
                    print(f"| {budget:g} | {method} | {seed} | (no {path}) | | | | |")
                    continue
                result = json.loads(path.read_text())
                row = table.query(result["genotype"])
                params = row["params_m"]
                rows.append({"budget": budget, "method": method, "seed": seed, "genotype": result["genotype"],
                             "params_m": params, "cifar10": row["cifar10_test"]})  # fmt: skip
                cell = result["genotype"].replace("|", "\\|")
                print(f"| {budget:g} | {method} | {seed} | `{cell}` | {params:.3f} | {params <= budget + 1e-9} "
                      f"| {row['cifar10_test']:.2f} | {result['cost']['expected']:.3f} |")  # fmt: skip
    print("\n| budget (M) | cells within | table best | largest within (ties) | training-free within "
          f"({samples} random) | " + " | ".join(methods) + " |")  # fmt: skip
    print("| --- " * (5 + len(methods)) + "|")
    for budget in budgets:
        feasible = within(table, budget)
        best = max(feasible, key=lambda r: r["cifar10_test"])
        top = max(r["params_m"] for r in feasible)
        largest = [r for r in feasible if r["params_m"] == top]
        largest_acc = statistics.mean(r["cifar10_test"] for r in largest)
        tf = []
        for seed in seeds:
            pick = training_free(random_within([r["arch"] for r in feasible], samples, seed), seed)
            tf.append(table.query(pick))
            rows.append({"budget": budget, "method": "training-free", "seed": seed, "genotype": pick,
                         "params_m": tf[-1]["params_m"], "cifar10": tf[-1]["cifar10_test"]})  # fmt: skip
        rows.append({"budget": budget, "method": "largest", "seed": None, "genotype": largest[0]["arch"],
                     "params_m": top, "cifar10": largest_acc})  # fmt: skip
        found = []
        for method in methods:
            acc = [r["cifar10"] for r in rows if r["budget"] == budget and r["method"] == method]
            found.append(mean_sd(acc) + f" (n={len(acc)})" if acc else "-")
        print(f"| {budget:g} | {len(feasible)} | {best['cifar10_test']:.2f} ({best['params_m']:.3f} M) "
              f"| {largest_acc:.2f} ({top:.3f} M, {len(largest)}) | {mean_sd([r['cifar10_test'] for r in tf])} | "
              + " | ".join(found) + " |")  # fmt: skip
    return rows


def plot(rows: list[dict], table: NB201Table, budgets, path: Path) -> None:
    """Every cell's parameters against CIFAR-10 accuracy, the table's Pareto front, found cells and baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sorted(table, key=lambda r: r["params_m"])
    front, best = [], -1.0
    for r in cells:
        if r["cifar10_test"] > best:
            best = r["cifar10_test"]
            front.append((r["params_m"], best))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([r["params_m"] for r in cells], [r["cifar10_test"] for r in cells], s=2, c="0.8", label="NB201 cells")
    xs, ys = zip(*front, strict=True)
    ax.step([*xs, cells[-1]["params_m"]], [*ys, ys[-1]], where="post", c="k", lw=1, label="table's Pareto front")
    markers = {"drnas": "o", "balenas": "s", "training-free": "^", "largest": "D"}
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method]
        ax.scatter([r["params_m"] for r in rs], [r["cifar10"] for r in rs], marker=markers.get(method, "x"),
                   s=36, label=method, zorder=3)  # fmt: skip
    for budget in budgets:
        ax.axvline(budget, ls="--", c="0.5", lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(min([80.0] + [r["cifar10"] - 2 for r in rows]), 95)  # every found cell shown
    ax.set_xlabel("parameters (M, NB201 network)")
    ax.set_ylabel("CIFAR-10 test accuracy (%)")
    ax.set_title("Budgeted search (dashed: budgets), CPU protocol")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", default="0.5", help="parameter budgets in millions, comma-separated")
    parser.add_argument("--methods", default="drnas,balenas", help="comma-separated")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated")
    parser.add_argument("--runs", default=str(Path(__file__).resolve().parent / "runs" / "cost"))
    parser.add_argument("--samples", type=int, default=100, help="random cells of the training-free baseline")
    parser.add_argument("--collect", action="store_true", help="search nothing; print the tables")
    parser.add_argument("--plot", default=None, help="with --collect: write the Pareto plot here (PNG)")
    args = parser.parse_args()
    budgets = [float(b) for b in args.budgets.split(",")]
    methods = args.methods.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = Path(args.runs)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus", flush=True)
    get_space("nb201")
    table = NB201Table(str(TABLE))
    if not args.collect:
        for budget in budgets:
            for method in methods:
                for seed in seeds:
                    run_search(method, budget, seed, runs)
        return
    rows = collect(budgets, methods, seeds, runs, table, args.samples)
    if args.plot:
        plot(rows, table, budgets, Path(args.plot))


if __name__ == "__main__":
    main()
