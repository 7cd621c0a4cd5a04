"""Zero-cost proxies of pyronas against NASLib's NAS-Bench-Suite-Zero scores on NAS-Bench-201 CIFAR-10.

For N cells of the reference table (``shared/data/nb201/nb201_zero_cost_naslib.csv``, cifar10 rows,
a seeded random subset), scores each cell's standalone network (C=16, N=5, seeded init) on one
un-augmented CIFAR-10 batch from the shipped JPEG zip, then prints per proxy:
  - Spearman rho between our score and the reference score (an independent implementation; target
    >= 0.9 for synflow, nwot, jacob_cov, snip, grad_norm),
  - Spearman rho of ours and of the reference with the 200-epoch validation accuracy (target: within
    0.05 of each other),
  - mean seconds per cell.
Cells where either score is undefined (NaN, +-inf, or NASLib's -1e8 failure marker) are left out of
that proxy's correlations. The default batch is 32 images: the reference jacov values never exceed
-32, the maximum of that score for a batch of 32, so that is the batch NASLib scored with.

    python benchmarks/proxies_nb201.py --cells 200

References:
    [1] A. Krishnakumar et al. NAS-Bench-Suite-Zero: Accelerating Research on Zero Cost Proxies.
        NeurIPS 2022 Datasets and Benchmarks.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import torch
import tyro
from scipy.stats import spearmanr

from pyronas.cli import ProxiesArgs
from pyronas.cli_options import flatten, parse, share_of
from pyronas.config import option
from pyronas.data import load_image_folder
from pyronas.proxies import PROXIES, proxy_batch, proxy_names, score

SHARED = Path(os.environ.get("PYRONAS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
REFERENCE_COLUMN = {"jacob_cov": "jacov"}  # our name -> the reference table's
FAILED = -1e8  # NASLib's score for a failed proxy


def defined(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values != FAILED)


def rho(x: np.ndarray, y: np.ndarray, keep: np.ndarray) -> float:
    """Spearman rho of ``x`` and ``y`` over ``keep`` (NaN with fewer than 3 cells)."""
    return float(spearmanr(x[keep], y[keep])[0]) if keep.sum() > 2 else math.nan


def agreement(ours: pd.DataFrame, reference: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per proxy: rho(ours, reference), rho(ours, accuracy), rho(reference, accuracy), cells used."""
    rows = []
    for name in names:
        a = ours[name].to_numpy(float)
        b = reference[REFERENCE_COLUMN.get(name, name)].to_numpy(float)
        acc = reference["val_accuracy"].to_numpy(float)
        keep = defined(a) & defined(b)
        rows.append(
            {
                "proxy": name,
                "cells": int(keep.sum()),
                "rho_reference": rho(a, b, keep),
                "rho_acc_ours": rho(a, acc, keep),
                "rho_acc_reference": rho(b, acc, keep),
            }
        )
    return pd.DataFrame(rows).set_index("proxy")


# the scoring batch and proxies: pyronas proxies' own options (--help), with this benchmark's defaults
Proxies = share_of(ProxiesArgs, proxies=",".join(PROXIES), batch_size=32, seed=0)


@dataclass(frozen=True)
class Args:
    proxies: Proxies = field(default_factory=Proxies)
    cells: int = option(200, "number of cells (of ~724)")
    data: str = option(str(SHARED / "data" / "cifar10" / "cifar10-train-jpeg.zip"), "CIFAR-10 training zip")
    reference: str = option(str(SHARED / "data" / "nb201" / "nb201_zero_cost_naslib.csv"), "NASLib's scores")
    scores: Annotated[
        str | None, tyro.conf.arg(help="optional CSV of our scores beside the reference", help_behavior_hint="")
    ] = None


def main() -> None:
    parsed = parse(Args, description=__doc__)
    args = argparse.Namespace(**flatten(parsed))

    names = proxy_names(args.proxies)
    table = pd.read_csv(args.reference)
    table = table[table.dataset == "cifar10"]
    reference = table.sample(n=min(args.cells, len(table)), random_state=args.seed).reset_index(drop=True)
    images, labels = proxy_batch(load_image_folder(args.data), args.batch_size, seed=args.seed)

    rows, seconds = [], []
    for i, cell in enumerate(reference["arch"]):
        start = time.perf_counter()
        rows.append(score(cell, names, images, labels, args.seed))
        seconds.append(time.perf_counter() - start)
        print(f"[{i + 1}/{len(reference)}] {seconds[-1]:.1f} s {cell}", flush=True)
    ours = pd.DataFrame(rows)
    if args.scores:
        ours.add_suffix("_ours").join(reference).to_csv(args.scores, index=False)

    result = agreement(ours, reference, names)
    print(
        f"\n{len(reference)} NB201 cells, CIFAR-10 batch {args.batch_size}, seed {args.seed}, "
        f"{torch.get_num_threads()} threads; {np.mean(seconds):.2f} s per cell (all proxies)"
    )
    print(result.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
