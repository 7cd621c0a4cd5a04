"""What the probabilistic machinery costs: a pyronas search step against the same step in plain PyTorch.

A search step is one architecture update on a validation batch followed by one weight update on a
training batch. The pyronas step is :class:`pyronas.infer.BilevelSVI` (two ``pyro.infer.SVI``
objects, the method's Pyro model and guide, ``Trace_ELBO``, the protocol's optimizers). The plain
step is a hand-written loop over the same supernet (a copy with identical initial weights) and the
same batch: the architecture tensor as an ``nn.Parameter``, softmax (DARTS) or a pathwise Dirichlet
sample (DrNAS), cross-entropy, Adam for the architecture, SGD with momentum and a global clip for
the weights; weights frozen during the architecture step in both. The two alternate in blocks of
``--block`` steps within one process so that machine noise hits both alike; the median step time of
each and the ratio are printed.

    python benchmarks/step_overhead.py                       # NB201 C=16 N=5, batch 64, darts + drnas
    python benchmarks/step_overhead.py --throughput 64,128   # plus images/s of every registered method
    python benchmarks/step_overhead.py --no-overhead --throughput 64 --single-path   # all ops vs one path per edge
    python benchmarks/step_overhead.py --device cuda --throughput 64,256 --single-path   # on a GPU

The supernet, batch and device options are ``pyronas search``'s (``--help``); the model, guide, optimizers and
ELBO are built by ``pyronas.build`` from the method's resolved config.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F

from pyronas.build import build_inference, resolve_search
from pyronas.cli_options import flatten, parse, search_options
from pyronas.config import option
from pyronas.infer import BilevelSVI
from pyronas.registry import METHODS
from pyronas.spaces import get_space

PLAIN_METHODS = ("darts", "drnas")
Search = search_options(channels=16, cells_per_stage=5, batch_size=64, channels_last=False, device="cpu")


@dataclass(frozen=True)
class Args:
    search: Search = field(default_factory=Search)
    warmup: int = option(2, "untimed steps before each timing")
    block: int = option(3, "steps per block; blocks alternate pyronas / plain")
    rounds: int = option(4, "blocks of each")
    repeats: int = option(5, "timed steps per throughput line")
    throughput: str | None = option(None, "comma-separated batch sizes for the per-method throughput (default: none)")
    overhead: bool = option(True, "skip the overhead table", flag="--no-overhead")
    single_path: bool = option(False, "throughput also with one sampled op per edge")


class PlainStep:
    """The DARTS / DrNAS first-order search step written directly in PyTorch (the baseline)."""

    def __init__(self, method: str, supernet: torch.nn.Module, arch_shape: dict[str, tuple[int, int]]):
        self.method, self.supernet = method, supernet
        device = next(supernet.parameters()).device
        self.arch = {
            cell: torch.nn.Parameter(1e-3 * torch.randn(shape, device=device)) for cell, shape in arch_shape.items()
        }
        self.weights = [p for p in supernet.parameters() if p.requires_grad]
        wd = 5e-4 if method == "darts" else 3e-4
        self.weight_optim = torch.optim.SGD(self.weights, lr=0.025, momentum=0.9, weight_decay=wd)
        self.arch_optim = torch.optim.Adam(self.arch.values(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)

    def mixing(self) -> dict[str, torch.Tensor]:
        if self.method == "darts":
            return {cell: a.softmax(-1) for cell, a in self.arch.items()}
        return {cell: dist.Dirichlet(F.elu(a) + 1).rsample() for cell, a in self.arch.items()}

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        for p in self.weights:
            p.requires_grad_(False)
        loss = F.cross_entropy(self.supernet(images, self.mixing()), labels)
        self.arch_optim.zero_grad(set_to_none=True)
        loss.backward()
        self.arch_optim.step()
        for p in self.weights:
            p.requires_grad_(True)
        with torch.no_grad():
            mixing = self.mixing()
        loss = F.cross_entropy(self.supernet(images, mixing), labels)
        self.weight_optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.weights, 5.0)
        self.weight_optim.step()


def pyronas_step(method: str, supernet: torch.nn.Module, space) -> BilevelSVI:
    """The method's BilevelSVI with its protocol optimizers, built as ``pyronas.api.search`` builds them."""
    config, spec, space = resolve_search(method, space=space.name, dataset="cifar10", epochs=1)
    model, guide, weight_optim, arch_optim, loss = build_inference(config, spec, space, supernet)
    return BilevelSVI(model, guide, supernet, weight_optim, arch_optim, loss)


def batch(size: int, args, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randn(size, 3, 32, 32, generator=generator).to(args.device)
    if args.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, torch.randint(0, 10, (size,), generator=generator).to(args.device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, images, labels, n: int) -> list[float]:
    """Wall time of ``n`` calls of ``step``, each ended by a device synchronisation."""
    times = []
    for _ in range(n):
        _sync(images.device)
        start = time.perf_counter()
        step(images, labels)
        _sync(images.device)
        times.append(time.perf_counter() - start)
    return times


def new_supernet(space, args) -> torch.nn.Module:
    supernet = space.supernet(channels=args.channels, cells_per_stage=args.cells_per_stage, num_classes=10)
    return supernet.to(args.device, memory_format=torch.channels_last if args.channels_last else torch.preserve_format)


def overhead(args, space, images, labels) -> None:
    print(f"\nOverhead, NB201 C={args.channels} N={args.cells_per_stage}, batch {args.batch_size}:")
    print("| method | pyronas ms/step | plain PyTorch ms/step | ratio |")
    print("| --- | --- | --- | --- |")
    for method in PLAIN_METHODS:
        pyro.clear_param_store()
        torch.manual_seed(0)
        supernet = new_supernet(space, args)
        plain = PlainStep(method, copy.deepcopy(supernet), space.arch_shape)
        svi = pyronas_step(method, supernet, space)

        def ours(x, y, svi=svi):
            svi.step_arch(x, y)
            svi.step_weights(x, y)

        timed(ours, images, labels, args.warmup)
        timed(plain, images, labels, args.warmup)
        mine, theirs = [], []
        for _ in range(args.rounds):
            mine += timed(ours, images, labels, args.block)
            theirs += timed(plain, images, labels, args.block)
        a, b = statistics.median(mine), statistics.median(theirs)
        print(f"| {method} | {1000 * a:.1f} | {1000 * b:.1f} | {a / b:.3f} |", flush=True)


def throughput(args, space, sizes: list[int], generator) -> None:
    print(
        f"\nThroughput of a search step (arch + weight update, 2 x batch images), NB201 C={args.channels} "
        f"N={args.cells_per_stage}, 32x32:"
    )
    print("| method | batch | ops per edge | ms/step | images/s |")
    print("| --- | --- | --- | --- | --- |")
    for method in sorted(METHODS):
        for size in sizes:
            images, labels = batch(size, args, generator)
            for single_path in (False, True) if args.single_path else (False,):
                pyro.clear_param_store()
                torch.manual_seed(0)
                supernet = new_supernet(space, args)
                supernet.single_path = single_path
                svi = pyronas_step(method, supernet, space)

                def ours(x, y, svi=svi):
                    svi.step_arch(x, y)
                    svi.step_weights(x, y)

                timed(ours, images, labels, args.warmup)
                t = statistics.median(timed(ours, images, labels, args.repeats))
                paths = "1 (sampled)" if single_path else "all"
                print(f"| {method} | {size} | {paths} | {1000 * t:.1f} | {2 * size / t:.0f} |", flush=True)


def main() -> None:
    args = SimpleNamespace(**flatten(parse(Args, description=__doc__)))
    cuda = torch.device(args.device).type == "cuda"
    where = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"torch {torch.__version__}, pyro {pyro.__version__}, {torch.get_num_threads()} threads, {where}")
    space = get_space("nb201")
    generator = torch.Generator().manual_seed(1)
    images, labels = batch(args.batch_size, args, generator)
    if args.overhead:
        overhead(args, space, images, labels)
    if args.throughput:
        throughput(args, space, [int(s) for s in args.throughput.split(",")], generator)


if __name__ == "__main__":
    main()
