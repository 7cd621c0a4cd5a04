"""How well the reduced CPU search protocol ranks NB201 cells: a handful of standalone cells trained under it.

Each cell's standalone network is built at the protocol's size (C, N, image size) and trained from scratch
on the protocol's weight half of the CIFAR-10 training zip (``--train-size`` images, a seeded subset), then
scored on the 10,000 test images at the same resolution. The cells are one seeded-random cell from each
decile of the table's CIFAR-10 test accuracy, so they span the range. Printed: each cell's accuracy under
the protocol beside its table accuracies, and Spearman's rho between them (with the table's own 12-epoch
column against its 200-epoch column, on the same cells, for reference).

    python benchmarks/protocol_ranking.py                 # the defaults are the protocol's (RESULTS.md)
    python benchmarks/protocol_ranking.py --cells 10 --epochs 12

Training recipe: NB201's own cheap schedule [1] — SGD momentum 0.9, lr 0.1 cosine, weight decay 5e-4, batch 256,
12 epochs — with crop and flip, no cutout, no drop-path, no auxiliary head.

References:
    [1] X. Dong, Y. Yang. NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search. ICLR 2020.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from pyronas.benchmarks import NB201Table
from pyronas.train import train

SHARED = Path(os.environ.get("PYRONAS_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def decile_cells(table: NB201Table, count: int, seed: int) -> list[str]:
    """One seeded-random cell from each of ``count`` equal-size bins of the table sorted by CIFAR-10 test accuracy."""
    rows = sorted(table, key=lambda row: row["cifar10_test"])
    rng = random.Random(seed)
    bins = [rows[i * len(rows) // count : (i + 1) * len(rows) // count] for i in range(count)]
    return [rng.choice(b)["arch"] for b in bins]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SHARED / "data" / "cifar10" / "cifar10-train-jpeg.zip"))
    p.add_argument("--benchmark", default=str(SHARED / "data" / "nb201" / "nb201_accuracy.csv"))
    p.add_argument("--cells", type=int, default=10, help="cells, one per accuracy bin")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=16)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--cells-per-stage", type=int, default=1)
    p.add_argument("--train-size", type=int, default=25_000)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--out", default=None, help="optional JSON file for the rows")
    args = p.parse_args()

    table = NB201Table(args.benchmark)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    rows = []
    for cell in decile_cells(table, args.cells, args.seed):
        start = time.perf_counter()
        result = train(
            cell,
            "nb201",
            "folder",
            data_dir=args.data,
            image_size=args.image_size,
            train_size=args.train_size,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            cutout=0,
            drop_path=0.0,
            auxiliary_weight=0.0,
            channels=args.channels,
            cells_per_stage=args.cells_per_stage,
            seed=args.seed,
            progress=False,
        )
        row = table.query(cell)
        rows.append(
            {
                "cell": cell,
                "protocol_test": result.test_acc,
                "cifar10_test": row["cifar10_test"],
                "cifar10_test_12ep": row["cifar10_test_12ep"],
                "params": result.params,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)

    ours = [r["protocol_test"] for r in rows]
    full = [r["cifar10_test"] for r in rows]
    short = [r["cifar10_test_12ep"] for r in rows]
    print(f"\nSpearman rho, protocol vs table 200-epoch test:   {spearmanr(ours, full)[0]:.3f} ({len(rows)} cells)")
    print(f"Spearman rho, table 12-epoch vs 200-epoch test:   {spearmanr(short, full)[0]:.3f}")
    print(f"Spearman rho, protocol vs table 12-epoch test:    {spearmanr(ours, short)[0]:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
