"""Seconds per search step pair (one architecture step + one weight step) for candidate CPU protocol sizes.

Each size runs a DrNAS search of two epochs over 1,280 + 1,280 CIFAR-10 images (20 step pairs an epoch) and
reports the second epoch's mean time per step pair (the first one pays for allocation and warm caches).

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/protocol_step_cost.py
    python benchmarks/protocol_step_cost.py --threads 2 --sizes 16:1:32,8:1:16
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from pyronas.api import search

SHARED = Path(os.environ.get("PYRONAS_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SHARED / "data" / "cifar10" / "cifar10-train-jpeg.zip"))
    p.add_argument("--sizes", default="16:1:32,8:1:32,16:1:16,8:1:16,4:1:16,8:2:16,8:1:8", help="C:N:pixels,...")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--method", default="drnas")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, method {args.method}, batch 64")
    for size in args.sizes.split(","):
        channels, cells, pixels = (int(v) for v in size.split(":"))
        result = search(
            args.method,
            dataset="folder",
            data_dir=args.data,
            image_size=pixels,
            train_size=1280,
            epochs=2,
            channels=channels,
            cells_per_stage=cells,
            channels_last=args.channels_last,
            progress=False,
        )
        per_pair = result.history[1]["seconds"] / (1280 // 64)
        print(f"C={channels:<3d} N={cells}  {pixels:>2d} px  {per_pair:.3f} s per step pair", flush=True)


if __name__ == "__main__":
    main()
