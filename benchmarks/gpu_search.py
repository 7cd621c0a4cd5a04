"""Time of a full NAS-Bench-201 DrNAS search on one GPU, and what each fast-path option changes.

Protocol (METHODS.md): CIFAR-10 training images split in two halves of 25,000 (weights / architecture),
C=16, N=5, batch 64, 100 epochs of which the first 10 train the weights only. A full search is not run:
each variant runs ``--epochs`` epochs of that protocol (the first ``--warmup-epochs`` weight-only) and the
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

The options are ``pyronas search``'s (``--help``), with this protocol's defaults; each variant adds its own.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pyronas.api import search
from pyronas.cli_options import parse, search_options
from pyronas.config import option

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
Search = search_options(
    device="cuda",
    data_dir=str(SHARED / "data" / "cifar10" / "cifar10-train-jpeg.zip"),
    train_size=None,
    epochs=4,
    warmup_epochs=2,
    channels=16,
    cells_per_stage=5,
    batch_size=64,
)


@dataclass(frozen=True)
class Args:
    search: Search = field(default_factory=Search)
    variants: str = option(",".join(VARIANTS), "comma-separated: " + ", ".join(VARIANTS))


def extrapolate(history: list[dict]) -> tuple[float, float, float]:
    """(weight-only epoch s, alternating epoch s, full-search s) from a search's per-epoch records."""
    warm = [r["seconds"] for r in history if r["valid_acc"] is None]
    both = [r["seconds"] for r in history if r["valid_acc"] is not None]
    if not warm or not both:
        raise ValueError("need at least one weight-only and one alternating epoch (--epochs > --warmup-epochs >= 1)")
    return warm[-1], both[-1], FULL_WARMUP * warm[-1] + (FULL_EPOCHS - FULL_WARMUP) * both[-1]


def main() -> None:
    args = parse(Args, description=__doc__)
    settings = dataclasses.asdict(args.search)
    cuda = torch.device(settings["device"]).type == "cuda"
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
                result = search("drnas", dataset="folder", out_dir=out, progress=False, **settings, **VARIANTS[variant])
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
