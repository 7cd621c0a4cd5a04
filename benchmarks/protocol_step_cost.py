"""Seconds per search step pair (one architecture step + one weight step) for candidate CPU protocol sizes.

Each size runs a DrNAS search of two epochs over 1,280 + 1,280 CIFAR-10 images (20 step pairs an epoch) and
reports the last epoch's mean time per step pair (the first one pays for allocation and warm caches).

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/protocol_step_cost.py
    python benchmarks/protocol_step_cost.py --threads 2 --sizes 16:1:32,8:1:16
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pyronas.api import search
from pyronas.cli_options import parse, search_options
from pyronas.config import option

SHARED = Path(os.environ.get("PYRONAS_SHARED", Path(__file__).resolve().parents[2] / "shared"))


# the method, data and schedule: pyronas search's own options (--help), with this benchmark's defaults
Search = search_options(
    method="drnas",
    dataset="folder",
    data_dir=str(SHARED / "data" / "cifar10" / "cifar10-train-jpeg.zip"),
    train_size=1280,
    epochs=2,
    batch_size=64,
)


@dataclass(frozen=True)
class Args:
    search: Search = field(default_factory=Search)
    sizes: str = option("16:1:32,8:1:32,16:1:16,8:1:16,4:1:16,8:2:16,8:1:8", "C:N:pixels,...")
    threads: int = option(1, "torch threads")
    channels_last: bool = option(True, "contiguous (not channels-last) batches", flag="--no-channels-last")


def main() -> None:
    args = parse(Args, description=__doc__)
    settings = dataclasses.asdict(args.search)
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, method {settings['method']}, "
        f"batch {settings['batch_size']}"
    )
    for size in args.sizes.split(","):
        channels, cells, pixels = (int(v) for v in size.split(":"))
        result = search(
            **settings,
            image_size=pixels,
            channels=channels,
            cells_per_stage=cells,
            channels_last=args.channels_last,
            progress=False,
        )
        per_pair = result.history[-1]["seconds"] / (settings["train_size"] // settings["batch_size"])
        print(f"C={channels:<3d} N={cells}  {pixels:>2d} px  {per_pair:.3f} s per step pair", flush=True)


if __name__ == "__main__":
    main()
