"""Time of a full NAS-Bench-201 DrNAS search on one GPU, and what each fast-path option changes.

Protocol (METHODS.md): CIFAR-10 training images split in two halves of 25,000 (weights / architecture),
C=16, N=5, batch 64, 100 epochs of which the first 10 train the weights only. A full search is not run:
each variant runs ``--epochs`` epochs of that protocol (the first ``--warmup`` weight-only) and the
search time is extrapolated as ``10 x`` (last weight-only epoch) ``+ 90 x`` (last alternating epoch;
with the defaults, 2 of each, the first of each kind holding the one-time costs such as compilation),
beside the published 10,890 s of DARTS-V1's search (METHODS.md). Epoch times are ``log.jsonl``'s
``seconds``; they end with the epoch's one read of the losses, so the GPU's work is inside them.

Variants (``--variants``, comma-separated):

- ``base``: no option;
- ``fast``: channels-last batches, bf16 autocast, the sync-free ELBO (``--elbo device``);
- ``fast+single``: ``fast`` and one sampled op per edge (``--single-path``);
- ``fast+compile``: ``fast`` and ``torch.compile`` of the supernet.

Each variant also prints its peak GPU memory (``torch.cuda.max_memory_allocated``). A variant that fails
prints its error and the next one runs.

    python benchmarks/gpu_search.py --device cuda
    python benchmarks/gpu_search.py --device cpu --train-size 256 --channels 4 --cells-per-stage 1  # smoke run
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from pyronas.api import search

SHARED = Path(os.environ.get("PYRONAS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
PUBLISHED_SECONDS = 10_890  # DARTS-V1 search on NB201, METHODS.md
FULL_EPOCHS, FULL_WARMUP = 100, 10
FAST = dict(channels_last=True, amp="bf16", elbo="device")
VARIANTS = {
    "base": {},
    "fast": FAST,
    "fast+single": dict(FAST, single_path=True),
    "fast+compile": dict(FAST, compile=True),
}


def extrapolate(history: list[dict]) -> tuple[float, float, float]:
    """(weight-only epoch s, alternating epoch s, full-search s) from a search's per-epoch records."""
    warm = [r["seconds"] for r in history if r["valid_acc"] is None]
    both = [r["seconds"] for r in history if r["valid_acc"] is not None]
    if not warm or not both:
        raise ValueError("need at least one weight-only and one alternating epoch (--epochs > --warmup >= 1)")
    return warm[-1], both[-1], FULL_WARMUP * warm[-1] + (FULL_EPOCHS - FULL_WARMUP) * both[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--data", default=str(SHARED / "data" / "cifar10" / "cifar10-train-jpeg.zip"))
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--train-size", type=int, default=None, help="images per half (default: all, 25,000)")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--cells-per-stage", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    cuda = torch.device(args.device).type == "cuda"
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {name}")
    print("| variant | weight-only epoch s | alternating epoch s | search s (extrap.) | min | / 10,890 s | peak MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for variant in args.variants.split(","):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory() as out:
                result = search(
                    "drnas",
                    dataset="folder",
                    data_dir=args.data,
                    train_size=args.train_size,
                    epochs=args.epochs,
                    warmup_epochs=args.warmup,
                    channels=args.channels,
                    cells_per_stage=args.cells_per_stage,
                    batch_size=args.batch_size,
                    device=args.device,
                    out_dir=out,
                    progress=False,
                    **VARIANTS[variant],
                )
        except Exception as error:  # report and go on: one broken option must not hide the others
            print(f"| {variant} | failed after {time.perf_counter() - start:.0f} s: {type(error).__name__}: {error} |")
            continue
        warm, both, full = extrapolate(result.history)
        peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if cuda else "-"
        print(
            f"| {variant} | {warm:.1f} | {both:.1f} | {full:.0f} | {full / 60:.1f} | {full / PUBLISHED_SECONDS:.3f} "
            f"| {peak} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
