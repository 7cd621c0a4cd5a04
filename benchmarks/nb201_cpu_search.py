"""The reduced NAS-Bench-201 search protocol for a 2-core CPU: every method and the no-search baselines, 3 seeds.

Protocol (the defaults; why in ``benchmarks/RESULTS.md``): CIFAR-10 from the shipped JPEG zip resampled to
16x16 pixels (the resolution of NB201's own ImageNet16-120), the full NB201 split (25,000 + 25,000 images,
391 architecture steps per epoch), C=8, one cell per stage, batch 64, channels-last batches, 20 epochs
(7,820 architecture updates); every other setting is the method's published default from its registry protocol
(DrNAS and DARTS: no warm-up; BayesNAS: its own one-epoch schedule). Each found cell is looked up in the NB201
table (CIFAR-10 / CIFAR-100 / ImageNet16-120 test accuracy).

    python benchmarks/nb201_cpu_search.py --methods largest,random,training-free --seeds 0,1,2
    python benchmarks/nb201_cpu_search.py --methods drnas --seeds 0,1,2
    python benchmarks/nb201_cpu_search.py --methods drnas,darts --budget-matched   # lr x updates as published

The search options (``--epochs``, ``--channels``, ``--data-dir``, ...) are ``pyronas search``'s, with the
protocol's defaults; a run folder that exists is refused (pass another ``--runs``, or ``--collect`` to read it).

Baselines (no supernet, computed here on the same data and seeds):
``largest``   the cell with the most parameters (the table's ``params_m``);
``random``    ``--samples`` uniformly random cells per seed: the row is their mean (``--samples`` cells), the
              summary also gives the exact mean and standard deviation over all 15,625 cells;
``training-free`` the best of ``--samples`` uniformly random cells by the ``nwot+synflow`` rank-sum, scored
              exactly as BaLeNAS-TF's pick (the protocol-size standalone network, one un-augmented batch of the
              architecture half).

Methods with a selection rule of their own (``SELECT``: BaLeNAS-TF's proxies, PGNAS's posterior-guided
sampling) give two rows per run, the argmax cell and the selected one (``<method>-tf``, ``<method>-pgs``).
Every row has the final mean op entropy (nats) and the largest op probability of each edge.
Writes every run under ``--runs`` (default ``benchmarks/runs/protocol``) and prints a line per run and tables;
``--collect`` searches nothing and prints the tables of the runs already in ``--runs`` (baselines recomputed),
with each run's search time (the sum of its epochs) as ``s``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pyronas.api import search
from pyronas.benchmarks import NB201Table
from pyronas.cli import user_errors
from pyronas.cli_options import parse, search_options
from pyronas.config import ARCH_LR, option
from pyronas.data import Batches, load_dataset, split_halves
from pyronas.proxies import proxy_batch
from pyronas.registry import get_method
from pyronas.select import best_by_proxies
from pyronas.spaces import get_space

SHARED = Path(os.environ.get("PYRONAS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
BASELINES = ("largest", "random", "training-free")
# rule, row suffix, cells drawn; PGS: the paper draws 1,500, which costs about 25 minutes per run on 2 CPU cores
SELECT = {"balenas": ("proxy:nwot+synflow", "tf", 100), "pgnas": ("valid", "pgs", 100)}
TF_RULE = SELECT["balenas"][0]  # the training-free baseline scores cells exactly as BaLeNAS-TF


def random_cells(count: int, seed: int) -> list[str]:
    """``count`` uniformly random NB201 cells (each edge's op drawn uniformly), seeded."""
    space, rng = get_space("nb201"), random.Random(seed)
    ops = list(space.ops)
    edges = len(space.edge_names)
    return [
        space.derive({"cell": torch.eye(len(ops))[[rng.randrange(len(ops)) for _ in range(edges)]]})
        for _ in range(count)
    ]


def baseline(name: str, seed: int, table: NB201Table, args) -> dict:
    """One baseline pick: ``{"genotype", "benchmark", "seconds"}`` (``random``: the mean of ``--samples`` cells)."""
    start = time.perf_counter()
    if name == "largest":
        row = max(table, key=lambda r: r["params_m"])
        return {"genotype": row["arch"], "benchmark": table.query(row["arch"]), "seconds": 0.0}
    cells = random_cells(args.samples, seed)
    if name == "random":
        rows = [table.query(c) for c in cells]
        mean = {k: statistics.mean(r[k] for r in rows) for k in ("cifar10_test", "cifar100_test", "imagenet16_test")}
        return {"genotype": f"mean of {len(cells)} random cells", "benchmark": mean, "seconds": 0.0}
    opts = args.search
    data = load_dataset(opts["dataset"], opts["data_dir"], image_size=opts["image_size"])
    weights_half, arch_half = split_halves(data, size=opts["train_size"])
    train = Batches(weights_half, opts["batch_size"], seed=seed)
    images, labels = proxy_batch(arch_half, opts["batch_size"], seed=seed, mean=train.mean, std=train.std)
    pick = best_by_proxies(
        list(dict.fromkeys(cells)),
        TF_RULE,
        images,
        labels,
        seed=seed,
        channels=opts["channels"],
        cells_per_stage=opts["cells_per_stage"],
    )
    best = pick["genotype"]
    return {"genotype": best, "benchmark": table.query(best), "seconds": time.perf_counter() - start}


def posterior_summary(op_probabilities: dict) -> tuple[float, list[float]]:
    """Mean op entropy (nats) and the largest op probability per edge of a result's ``op_probabilities``."""
    entropies, largest = [], []
    for edges in op_probabilities.values():
        for probs in edges.values():
            p = [v for v in probs.values() if v > 0]
            entropies.append(-sum(v * math.log(v) for v in p))
            largest.append(max(probs.values()))
    return statistics.mean(entropies), largest


def budget_matched_arch_lr(method: str, epochs: int) -> float | None:
    """The architecture learning rate that gives ``epochs`` the published run's lr x updates (``--budget-matched``).

    Only for methods whose protocol runs Adam at the default rate (DARTS: 50 epochs, DrNAS: 100, PGNAS: 50, at
    3e-4): lr = 3e-4 x published epochs / ``epochs``; the steps per epoch are the same (391). ``None`` for the others.
    """
    spec = get_method(method)
    if spec.protocol.get("arch_optim", "adam") != "adam" or "arch_lr" in spec.protocol:
        return None
    return ARCH_LR["adam"] * spec.protocol["epochs"] / epochs


def result_rows(method: str, seed: int, result: dict, wall: float, tag: str = "") -> list[dict]:
    """The rows of one search's ``result.json`` (argmax, and the selected cell when it made a selection)."""
    suffix = SELECT.get(method, (None, "sel", 0))[1]
    method = method + tag
    entropy, largest = posterior_summary(result["op_probabilities"])
    picks = [(method, result["argmax_genotype"], result["argmax_benchmark"])]
    if result.get("selection") is not None:
        picks.append((f"{method}-{suffix}", result["genotype"], result["benchmark"]))
    common = {
        "seconds": wall,
        "search_seconds": result["seconds"],
        "entropy": entropy,
        "largest_op_probability": largest,
    }
    return [{"method": label, "seed": seed, "genotype": g, **accuracies(b), **common} for label, g, b in picks]


def run_method(method: str, seed: int, args) -> list[dict]:
    """One search; returns its rows (argmax, and the method's own selection when it has one)."""
    rule, _, samples = SELECT.get(method, ("argmax", None, 0)) if args.select else ("argmax", None, 0)
    arch_lr = budget_matched_arch_lr(method, args.search["epochs"]) if args.budget_matched else None
    tag = f"-lr{arch_lr:.1e}" if arch_lr is not None else ""
    out = Path(args.runs) / f"{method}{tag}-s{seed}"
    if args.collect:
        path = out / "result.json"
        if not path.is_file():
            print(f"no {path}; skipped", flush=True)
            return []
        result = json.loads(path.read_text())
        return result_rows(method, seed, result, result["seconds"], tag)
    start = time.perf_counter()
    settings = {**args.search, "epochs": None} if method == "bayesnas" else args.search  # its own one epoch
    result = search(
        method,
        **settings,
        arch_lr=arch_lr,
        channels_last=True,
        seed=seed,
        progress=False,
        out_dir=out,
        method_options=args.options.get(method),
        select=rule,
        samples=samples or 100,
    )
    return result_rows(method, seed, result.to_json(), time.perf_counter() - start, tag)


def accuracies(benchmark: dict) -> dict:
    return {
        "cifar10": benchmark["cifar10_test"],
        "cifar100": benchmark["cifar100_test"],
        "imagenet16": benchmark["imagenet16_test"],
    }


def print_tables(rows: list[dict], table: NB201Table) -> None:
    print("\n| method | seed | cell | CIFAR-10 | CIFAR-100 | ImageNet16-120 | entropy | largest p per edge | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cell = r["genotype"].replace("|", "\\|")  # escaped for Markdown tables
        entropy = "-" if r.get("entropy") is None else f"{r['entropy']:.3f}"
        largest = (
            "-"
            if r.get("largest_op_probability") is None
            else " ".join(f"{p:.2f}" for p in r["largest_op_probability"])
        )
        print(
            f"| {r['method']} | {r['seed']} | `{cell}` | {r['cifar10']:.2f} | {r['cifar100']:.2f} "
            f"| {r['imagenet16']:.2f} | {entropy} | {largest} | {r['seconds']:.0f} |"
        )
    print("\n| method | CIFAR-10 | CIFAR-100 | ImageNet16-120 | entropy | s (mean) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method]

        def stat(key, digits=2, rs=rs):
            values = [r[key] for r in rs]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.{digits}f} +- {sd:.{digits}f}"

        entropy = "-" if rs[0].get("entropy") is None else stat("entropy", 3)
        print(
            f"| {method} | {stat('cifar10')} | {stat('cifar100')} | {stat('imagenet16')} | {entropy} "
            f"| {statistics.mean(r['seconds'] for r in rs):.0f} |"
        )
    if any(r["method"] == "random" for r in rows):
        keys = ("cifar10_test", "cifar100_test", "imagenet16_test")
        every = {k: [row[k] for row in table] for k in keys}
        print(
            "\nall 15,625 cells (a uniformly random cell): "
            + ", ".join(f"{k} {statistics.mean(v):.2f} +- {statistics.pstdev(v):.2f}" for k, v in every.items())
        )


# the search settings of the protocol: pyronas search's own options (--help), with the protocol's defaults
Search = search_options(
    dataset="folder",
    data_dir=str(SHARED / "data" / "cifar10" / "cifar10-train-jpeg.zip"),
    image_size=16,
    train_size=None,
    epochs=20,
    cells_per_stage=1,
    channels=8,
    batch_size=64,
    benchmark=str(SHARED / "data" / "nb201" / "nb201_accuracy.csv"),
)


@dataclass(frozen=True)
class Args:
    search: Search = field(default_factory=Search)
    methods: str = option(",".join((*BASELINES, "darts", "drnas", "balenas", "bayesnas", "pgnas")), "comma-separated")
    seeds: str = option("0,1,2", "comma-separated")
    samples: int = option(100, "cells per seed of the random and training-free baselines")
    select: bool = option(True, "argmax rows only (no TF / PGS picks)", flag="--no-select")
    runs: str = option(str(Path(__file__).resolve().parent / "runs" / "protocol"), "folder of the run folders")
    method_option: dict = option(
        None, "METHOD:KEY=VALUE, a method's option, e.g. drnas:init_scale=2 (repeatable)", factory=dict
    )
    collect: bool = option(False, "print the tables of the runs already in --runs")
    budget_matched: bool = option(
        False, "Adam-at-3e-4 methods (darts, drnas): arch lr scaled to the published lr x updates (runs tagged -lr...)"
    )


def main() -> None:
    parsed = parse(Args, description=__doc__)
    args = argparse.Namespace(**dataclasses.asdict(parsed))  # the search options as a dict, for search(**...)
    args.options = {}
    for name, value in args.method_option.items():
        method, _, key = name.partition(":")
        args.options.setdefault(method, {})[key] = value

    table = NB201Table(args.search["benchmark"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus", flush=True)
    rows = []
    for method in args.methods.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            if method in BASELINES:
                pick = baseline(method, seed, table, args)
                new = [
                    {
                        "method": method,
                        "seed": seed,
                        "genotype": pick["genotype"],
                        **accuracies(pick["benchmark"]),
                        "seconds": pick["seconds"],
                        "entropy": None,
                        "largest_op_probability": None,
                    }
                ]
            else:
                new = run_method(method, seed, args)
            for row in new:
                print(json.dumps(row), flush=True)
            rows += new
    print_tables(rows, table)


if __name__ == "__main__":
    try:
        main()
    except user_errors() as e:  # a run folder that exists, bad settings: one line, as from pyronas search
        sys.exit(f"nb201_cpu_search: error: {e}")
