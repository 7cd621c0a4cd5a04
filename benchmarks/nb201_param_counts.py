"""Count the parameters of the standalone network of every NB201 cell and compare with the table.

    python benchmarks/nb201_param_counts.py [--benchmark PATH]

Prints how many of the 15,625 cells match the table's ``params_m`` exactly, and groups the
mismatches by the difference times 3 and times 2 (the table averages several training records
for some rows; see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import collections
import os
import time
from pathlib import Path

from pyronas.benchmarks import NB201Table
from pyronas.nn.nb201 import NB201Network

SHARED = Path(os.environ.get("PYRONAS_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", default=str(SHARED / "data" / "nb201" / "nb201_accuracy.csv"))
    args = p.parse_args()
    table = NB201Table(args.benchmark)
    start = time.perf_counter()
    mismatches = []
    for row in table:
        count = sum(p.numel() for p in NB201Network(row["arch"]).parameters())
        if abs(count - row["params_m"] * 1e6) > 1.0:
            mismatches.append((row["arch"], count, row["params_m"] * 1e6))
    n = len(table)
    print(
        f"{n - len(mismatches)} of {n} cells match params_m ({100 * (n - len(mismatches)) / n:.2f} %), "
        f"{time.perf_counter() - start:.0f} s"
    )
    diffs = collections.Counter(round(3 * (ours - theirs)) for _, ours, theirs in mismatches)
    print("mismatch (ours - table) x 3, count:", diffs.most_common())
    for arch, ours, theirs in mismatches[:5]:
        print(f"  {arch}: ours {ours:.0f}, table {theirs:.0f}")


if __name__ == "__main__":
    main()
