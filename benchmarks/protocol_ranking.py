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
import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from scipy.stats import spearmanr

from pyronas.benchmarks import NB201Table
from pyronas.cli_options import flatten, parse, train_options
from pyronas.config import option
from pyronas.train import train

SHARED = Path(os.environ.get("PYRONAS_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def decile_cells(table: NB201Table, count: int, seed: int) -> list[str]:
    """One seeded-random cell from each of ``count`` equal-size bins of the table sorted by CIFAR-10 test accuracy."""
    rows = sorted(table, key=lambda row: row["cifar10_test"])
    rng = random.Random(seed)
    bins = [rows[i * len(rows) // count : (i + 1) * len(rows) // count] for i in range(count)]
    return [rng.choice(b)["arch"] for b in bins]


# the training settings: pyronas train's own options (--help), with the protocol's and NB201's 12-epoch recipe's
Train = train_options(
    data_dir=str(SHARED / "data" / "cifar10" / "cifar10-train-jpeg.zip"),
    image_size=16,
    channels=8,
    cells_per_stage=1,
    train_size=25_000,
    epochs=12,
    batch_size=256,
    lr=0.1,
    weight_decay=5e-4,
    seed=0,
)


@dataclass(frozen=True)
class Args:
    train: Train = field(default_factory=Train)
    benchmark: str = option(str(SHARED / "data" / "nb201" / "nb201_accuracy.csv"), "NB201 table (nb201_accuracy.csv)")
    cells: int = option(10, "cells, one per accuracy bin")
    rows: str | None = option(None, "optional JSON file for the rows")


def main() -> None:
    parsed = parse(Args, description=__doc__)
    args = argparse.Namespace(**flatten(parsed))
    settings = dataclasses.asdict(parsed.train)

    table = NB201Table(args.benchmark)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    rows = []
    for cell in decile_cells(table, args.cells, args.seed):
        start = time.perf_counter()
        result = train(
            cell,
            "nb201",
            "folder",
            **settings,
            cutout=0,
            drop_path=0.0,
            auxiliary_weight=0.0,
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
    if parsed.rows:
        Path(parsed.rows).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
