"""Cost of NGVI against Adam as the architecture optimizer of a BaLeNAS search step.

One step is what the search loop does per batch: an architecture step then a weight step of
:class:`pyronas.infer.BilevelSVI`, on the NB201 supernet (C=16, N cells per stage, 32x32 inputs,
batch 64, 10 classes) with the BaLeNAS model and guide. Both optimizers run on the same supernet
initialisation and the same fixed batch, each in a fresh process (so peak RSS is its own),
alternating ``--rounds`` times; the median step time and the peak memory of each are reported
with the NGVI / Adam ratios, plus the exact size of each optimizer's state.

    python benchmarks/ngvi_overhead.py                  # C=16, N=5, batch 64 (the full size)
    python benchmarks/ngvi_overhead.py --cells-per-stage 1 --channels 4 --batch-size 8 --repeats 3   # smoke

The supernet, batch and device options are ``pyronas search``'s (``--help``); the model, guide, optimizers and
ELBO are built by ``pyronas.build`` from BaLeNAS' resolved config.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch

from pyronas.cli_options import flatten, parse, search_options
from pyronas.config import option

OPTIMS = ("ngvi", "adam")
Search = search_options(channels=16, cells_per_stage=5, batch_size=64, device="cpu")


@dataclass(frozen=True)
class Args:
    search: Search = field(default_factory=Search)
    warmup: int = option(2, "untimed steps first, in each process")
    repeats: int = option(10, "timed steps per process")
    rounds: int = option(2, "alternations of the two optimizers")
    threads: int = option(torch.get_num_threads(), "torch threads of each process")


def measure(optim: str, args: dict, queue) -> None:
    """Child process: time ``repeats`` search steps with ``optim``; put a result dict on ``queue``."""
    import pyro

    from pyronas.build import build_inference, resolve_search
    from pyronas.infer import BilevelSVI

    torch.set_num_threads(args["threads"])
    device = torch.device(args["device"])
    pyro.clear_param_store()
    torch.manual_seed(0)
    config, spec, space = resolve_search("balenas", dataset="cifar10", epochs=1, arch_optim=optim)
    supernet = space.supernet(channels=args["channels"], cells_per_stage=args["cells_per_stage"], num_classes=10)
    supernet.to(device)
    model, guide, weight_optim, arch_optim, loss = build_inference(config, spec, space, supernet)
    svi = BilevelSVI(model, guide, supernet, weight_optim, arch_optim, loss)
    g = torch.Generator().manual_seed(1)
    images = torch.randn(args["batch_size"], 3, 32, 32, generator=g).to(device)
    labels = torch.randint(0, 10, (args["batch_size"],), generator=g).to(device)

    def step() -> None:
        svi.step_arch(images, labels)
        svi.step_weights(images, labels)
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args["warmup"]):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args["repeats"]):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    state = svi.arch_optim.optimizer.state_dict()["state"]
    state_bytes = sum(v.numel() * v.element_size() for s in state.values() for v in s.values() if torch.is_tensor(v))
    scale = 1024 if sys.platform != "darwin" else 1  # ru_maxrss: KiB on Linux, bytes on macOS
    queue.put(
        {
            "optim": optim,
            "median_s": statistics.median(times),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20,
            "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
            "state_bytes": state_bytes,
        }
    )


def main() -> None:
    args = flatten(parse(Args, description=__doc__))
    ctx = mp.get_context("spawn")
    results: dict[str, list[dict]] = {name: [] for name in OPTIMS}
    for _ in range(args["rounds"]):
        for name in OPTIMS:
            queue = ctx.Queue()
            proc = ctx.Process(target=measure, args=(name, args, queue))
            proc.start()
            results[name].append(queue.get())
            proc.join()
    print(
        f"BaLeNAS search step (arch + weights), NB201 C={args['channels']} N={args['cells_per_stage']}, "
        f"batch {args['batch_size']}, {args['device']}, {args['threads']} threads; "
        f"median of {args['repeats']} x {args['rounds']} rounds"
    )
    summary = {}
    for name, runs in results.items():
        summary[name] = {
            "time": statistics.median(r["median_s"] for r in runs),
            "rss": max(r["peak_rss_mib"] for r in runs),
            "cuda": runs[0]["peak_cuda_mib"],
            "state": runs[0]["state_bytes"],
        }
        s = summary[name]
        cuda = "" if s["cuda"] is None else f", peak CUDA {s['cuda']:.1f} MiB"
        print(f"  {name:>4}: {1000 * s['time']:8.1f} ms/step, peak RSS {s['rss']:7.1f} MiB{cuda}, state {s['state']} B")
    ngvi, adam = summary["ngvi"], summary["adam"]
    print(
        f"  ratio ngvi/adam: time {ngvi['time'] / adam['time']:.3f}, peak RSS {ngvi['rss'] / adam['rss']:.3f}", end=""
    )
    if ngvi["cuda"] is not None:
        print(f", peak CUDA {ngvi['cuda'] / adam['cuda']:.3f}", end="")
    print(f", state {ngvi['state'] / adam['state']:.3f}")


if __name__ == "__main__":
    main()
