"""Reduced NAS-Bench-201 search protocol that fits a 2-core CPU, for every method and several seeds.

Protocol (defaults): CIFAR-10 from the shipped JPEG zip, 5,000 + 5,000 images (weights / architecture
halves of the NB201 split), C=16, one cell per stage, batch 64, 12 epochs of which the first 4 train
weights only (warm-up), channels-last batches; every other setting is the method's published default
(METHODS.md). Each found cell is looked up in the NB201 table (CIFAR-10 / CIFAR-100 / ImageNet16-120 test).

    python benchmarks/nb201_cpu_search.py --methods darts,drnas --seeds 0,1,2
    python benchmarks/nb201_cpu_search.py --methods balenas --select proxy:nwot+synflow --samples 100

With ``--select proxy:...`` each run also reports the training-free pick (rows ``<method>-tf``), with
``--select valid`` the posterior-guided pick (rows ``<method>-pgs``), beside the argmax cell.
``--progressive`` runs the method's progressive schedule scaled to ``--epochs`` (DrNAS: two stages of
6 epochs by default, each with half of ``--warmup-epochs``). ``--single-path`` computes one sampled op
per edge and cell in each training step (rows ``<method>-sp``).

Prints one line per run and a summary table; writes every run under --out (default benchmarks/runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from pyronas.api import search

SHARED = Path(os.environ.get("PYRONAS_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="darts,drnas")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--data", default=str(SHARED / "data" / "cifar10" / "cifar10-train-jpeg.zip"))
    p.add_argument("--benchmark", default=str(SHARED / "data" / "nb201" / "nb201_accuracy.csv"))
    p.add_argument("--train-size", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--warmup-epochs", type=int, default=4)
    p.add_argument("--cells-per-stage", type=int, default=1)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "runs"))
    p.add_argument("--select", default="argmax", help="argmax or proxy:NAME[+NAME...] (BaLeNAS-TF selection)")
    p.add_argument("--samples", type=int, default=100, help="cells drawn for --select")
    p.add_argument("--progressive", action="store_true", help="the method's progressive schedule (rows <method>-prog)")
    p.add_argument("--single-path", action="store_true", help="one sampled op per edge per step (rows <method>-sp)")
    p.add_argument("--option", action="append", default=[], help="METHOD:KEY=VALUE method option")
    args = p.parse_args()

    options: dict[str, dict] = {}
    for text in args.option:
        method, _, kv = text.partition(":")
        key, _, value = kv.partition("=")
        options.setdefault(method, {})[key] = json.loads(value)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus")
    rows = []
    suffix = ("-prog" if args.progressive else "") + ("-sp" if args.single_path else "")
    for method in args.methods.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            start = time.perf_counter()
            result = search(
                method,
                dataset="folder",
                data_dir=args.data,
                train_size=args.train_size,
                epochs=args.epochs,
                # progressive: the same weight-only epochs in all, split evenly over the two stages
                warmup_epochs=args.warmup_epochs // 2 if args.progressive else args.warmup_epochs,
                cells_per_stage=args.cells_per_stage,
                channels=args.channels,
                seed=seed,
                benchmark=args.benchmark,
                channels_last=True,
                progress=False,
                out_dir=Path(args.out) / f"{method}{suffix}-s{seed}",
                method_options=options.get(method),
                select=args.select,
                samples=args.samples,
                progressive=args.progressive,
                single_path=args.single_path,
            )
            wall = time.perf_counter() - start
            label = method + suffix
            picks = [(label, result.argmax_genotype, result.argmax_benchmark)]
            if result.selection is not None:
                suffix = "pgs" if args.select == "valid" else "tf"
                picks.append((f"{label}-{suffix}", result.genotype, result.benchmark))
            for label, genotype, b in picks:
                row = {
                    "method": label,
                    "seed": seed,
                    "genotype": genotype,
                    "cifar10": b["cifar10_test"],
                    "cifar100": b["cifar100_test"],
                    "imagenet16": b["imagenet16_test"],
                    "seconds": wall,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)

    print("\n| method | seed | cell | CIFAR-10 | CIFAR-100 | ImageNet16-120 | search s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cell = r["genotype"].replace("|", "\\|")  # escaped for Markdown tables
        print(
            f"| {r['method']} | {r['seed']} | `{cell}` | {r['cifar10']:.2f} | {r['cifar100']:.2f} "
            f"| {r['imagenet16']:.2f} | {r['seconds']:.0f} |"
        )
    print("\n| method | CIFAR-10 | CIFAR-100 | ImageNet16-120 | search s (mean) |")
    print("| --- | --- | --- | --- | --- |")
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method]

        def stat(key, rs=rs):
            values = [r[key] for r in rs]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.2f} +- {sd:.2f}"

        print(
            f"| {method} | {stat('cifar10')} | {stat('cifar100')} | {stat('imagenet16')} "
            f"| {statistics.mean(r['seconds'] for r in rs):.0f} |"
        )


if __name__ == "__main__":
    main()
