"""Peak memory of one DrNAS search step (architecture step + weight step) with partial channels.

Configurations on the NB201 supernet (C=16, N=5, batch 64, 32x32 RGB, CPU):

- ``K=1``: the full supernet (every edge's ops see all channels, all 5 ops);
- ``K=4``: stage 1 of progressive learning (1/4 of the channels through the mixed ops, all ops);
- ``K=2, top-3``: stage 2 (1/2 of the channels, each edge pruned to 3 ops). The kept ops are the
  three that cost memory (``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``): the worst case;
- ``K=1, single path``: the full supernet computing one drawn op per edge (``--single-path``).

Each configuration runs in a fresh subprocess. It builds the supernet, DrNAS model+guide and the
protocol's optimizers, takes one warm-up step (optimizer state and gradient buffers now exist),
resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), and takes one more step. "step"
is the peak RSS during that step minus the RSS before it: the activations, gradients and
temporaries of a step. ``MALLOC_MMAP_THRESHOLD_`` makes glibc return large freed blocks to the
kernel, so that RSS follows the live tensors. "process" is the process's peak RSS over its life.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/memory_progressive.py
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pyronas.cli_options import flatten, parse, search_options
from pyronas.config import option

# name: (partial channels, pruned to the heavy ops, single-path sampling)
CONFIGS = {
    "K=1": (1, False, False),
    "K=4": (4, False, False),
    "K=2, top-3": (2, True, False),
    "K=1, single path": (1, False, True),
}
HEAVY_OPS = ("nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
COMMAND = "OMP_NUM_THREADS=1 nice -n 10 python benchmarks/memory_progressive.py"


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(name: str, channels: int, cells: int, batch: int, size: int) -> dict:
    """Run the configuration ``name`` in this process; returns RSS figures in MiB."""
    import torch

    from pyronas.build import build_inference, resolve_search
    from pyronas.infer import BilevelSVI
    from pyronas.nn.nb201 import NB201Supernet

    partial_channels, pruned, single_path = CONFIGS[name]
    torch.manual_seed(0)
    config, spec, space = resolve_search("drnas", dataset="cifar10", epochs=100)
    supernet = NB201Supernet(channels, cells, 10, 3, partial_channels=partial_channels)
    model, guide, weight_optim, arch_optim, loss = build_inference(config, spec, space, supernet)
    if pruned:
        keep = torch.tensor([op in HEAVY_OPS for op in space.ops]).expand(len(space.edge_names), -1)
        for part in (supernet, model, guide):
            part.prune({"cell": keep})
    supernet.single_path = single_path
    svi = BilevelSVI(model, guide, supernet, weight_optim, arch_optim, loss)
    images, labels = torch.randn(batch, 3, size, size), torch.randint(0, 10, (batch,))

    def step() -> None:
        svi.step_arch(images, labels)
        svi.step_weights(images, labels)

    step()  # warm-up: optimizer state, gradient buffers
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    step()
    peak = _status_kib("VmHWM")
    process = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    params = sum(p.numel() for p in supernet.parameters())
    return {"config": name, "step_mib": (peak - before) / 1024, "process_mib": process / 1024, "params": params}


# the supernet and batch: pyronas search's own options (--help), at the published NB201 size
Search = search_options(channels=16, cells_per_stage=5, batch_size=64, image_size=32)


@dataclass(frozen=True)
class Args:
    search: Search = field(default_factory=Search)
    only: str | None = option(None, "measure one configuration here and print JSON", choices=tuple(sorted(CONFIGS)))


def main(argv: list[str] | None = None) -> int:
    parsed = parse(Args, argv, description=__doc__.splitlines()[0])
    args = argparse.Namespace(**flatten(parsed))
    shape = (args.channels, args.cells_per_stage, args.batch_size, args.image_size)
    if args.only:
        print(json.dumps(measure(args.only, *shape)))
        return 0
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    rows = []
    for name in CONFIGS:
        cmd = [sys.executable, __file__, "--only", name, "--channels", str(args.channels)]
        cmd += ["--cells-per-stage", str(args.cells_per_stage), "--batch-size", str(args.batch_size)]
        cmd += ["--image-size", str(args.image_size)]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    full = rows[0]
    size = f"{args.image_size}x{args.image_size}"
    print(f"`{COMMAND}` (C={args.channels}, N={args.cells_per_stage}, batch {args.batch_size}, {size})")
    print()
    print("| configuration | supernet params | step memory (MiB) | vs K=1 | process peak RSS (MiB) | vs K=1 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['config']} | {r['params']:,} | {r['step_mib']:.0f} | {r['step_mib'] / full['step_mib']:.0%} "
            f"| {r['process_mib']:.0f} | {r['process_mib'] / full['process_mib']:.0%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
