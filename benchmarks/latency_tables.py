"""How well a latency table predicts whole networks: per-op latencies summed against the network measured whole.

For each space, a latency table at the given size (``pyronas.costs.latency_table``, each op timed alone, median of
``--repeats``), then ``--genotypes`` random genotypes measured as whole standalone networks
(``pyronas.costs.network_latency``); prints each relative error and their median. Latency is a timing, so this is a
benchmark, not a test (the tests check the table's structure and cache).

    OMP_NUM_THREADS=1 python benchmarks/latency_tables.py
    OMP_NUM_THREADS=1 python benchmarks/latency_tables.py --channels 16 --cells-per-stage 5 --image-size 32
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from pyronas.costs import NetworkSize, latency_table, network_latency
from pyronas.spaces import get_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", default="nb201,darts")
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--cells-per-stage", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--genotypes", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    size = NetworkSize(args.channels, args.cells_per_stage, 10, 3, args.image_size)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, {size}")
    for name in args.spaces.split(","):
        space = get_space(name)
        with tempfile.TemporaryDirectory() as cache:
            table = latency_table(space, size, device=args.device, cache_dir=cache, warmup=5, repeats=args.repeats)
        g = torch.Generator().manual_seed(1)
        errors = []
        for _ in range(args.genotypes):
            genotype = space.derive({c: torch.rand(s, generator=g) for c, s in space.arch_shape.items()})
            net = space.network(genotype, **size.network_kwargs()).to(args.device).eval()
            measured = network_latency(net, size.images().to(args.device), args.device, 5, args.repeats)
            errors.append(abs(table.cost(space, genotype) - measured) / measured)
            print(f"{name} {genotype[:60]:<60} table {table.cost(space, genotype):8.3f} ms  whole {measured:8.3f} ms")
        print(f"{name}: median relative error {statistics.median(errors):.3f} (max {max(errors):.3f})")


if __name__ == "__main__":
    main()
