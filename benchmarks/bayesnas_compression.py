"""BayesNAS compression on digits: accuracy of the supernet unpruned vs pruned at a few relevance thresholds.

Searches BayesNAS on the embedded digits data (NB201 space), then evaluates the trained supernet on the
architecture half (never used to train the weights) with (a) the posterior-mean mixing weights and (b) those
weights pruned at each threshold. Prints per threshold the fraction of ops and edges pruned, the accuracy, and
the parameters of the surviving ops (supernet cells only; stem, reduction blocks and classifier are the same for
every row and counted apart). BatchNorm runs in eval mode.
The search is built by ``pyronas.build.build_search``; its options are ``pyronas search``'s (``--help``).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bayesnas_compression.py --epochs 10
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from pyronas.build import build_search
from pyronas.cli_options import parse, search_options
from pyronas.config import option, search_config
from pyronas.data import Batches
from pyronas.nn.nb201 import NB201SearchCell

# the protocol's single epoch learns little on digits, hence 10
Search = search_options(epochs=10, channels=8, cells_per_stage=1, seed=0, arch_lr=None, method_options={})


@dataclass(frozen=True)
class Args:
    search: Search = field(default_factory=Search)
    thresholds: str = option("0.01,0.05,0.1,0.2,0.3,0.5", "comma-separated relevance thresholds")


@torch.no_grad()
def accuracy(supernet: torch.nn.Module, batches: Batches, weights: dict[str, torch.Tensor]) -> float:
    """Top-1 accuracy (%) of the supernet mixing ops with ``weights``, BatchNorm in eval mode."""
    supernet.eval()
    correct = total = 0
    for images, labels in batches:
        correct += int((supernet(images, weights).argmax(-1) == labels).sum())
        total += len(labels)
    return 100.0 * correct / total


def op_params(supernet: torch.nn.Module, mask: torch.Tensor) -> int:
    """Parameters of the ops a ``[E, K]`` mask keeps, summed over the supernet's NB201 cells."""
    total = 0
    for cell in supernet.modules():
        if isinstance(cell, NB201SearchCell):
            for e, mixed in enumerate(cell.edges):
                total += sum(p.numel() for k, op in enumerate(mixed.ops) if mask[e, k] for p in op.parameters())
    return total


def main(argv: list[str] | None = None) -> None:
    args = parse(Args, argv, description=__doc__.splitlines()[0])
    settings = dataclasses.asdict(args.search)
    options = settings["method_options"]
    parts = build_search(search_config("bayesnas", dataset="digits", progress=False, **settings))
    with parts.activate():
        runner = parts.runner()
        seconds = sum(record["seconds"] for record in runner.run())
        report(parts, runner.genotype(), seconds, options, [float(t) for t in args.thresholds.split(",")])


def report(parts, genotype: str, seconds: float, options: dict, thresholds: list[float]) -> None:
    """Print the table: held-out accuracy and op parameters unpruned and at each threshold, then the relevances."""
    c, space, guide, train = parts.config, parts.space, parts.guide, parts.train
    held_out = Batches(parts.arch_half, 64, augment=False, mean=train.mean, std=train.std)
    supernet = parts.supernet
    print(
        f"BayesNAS on digits: {c['epochs']} epochs, C={c['channels']}, N={c['cells_per_stage']}, "
        f"seed {c['seed']}, {seconds:.0f} s; options {options or 'default'}"
    )
    print(f"argmax cell: {genotype}")
    full = guide.mean_weights()
    mask_all = torch.ones(space.arch_shape["cell"], dtype=torch.bool)
    fixed = sum(p.numel() for p in supernet.parameters()) - op_params(supernet, mask_all)
    print(f"parameters outside the cells' ops: {fixed}")
    print("| threshold | ops pruned | edges pruned | held-out acc (%) | op params | compressed cell |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| none | 0/24 | 0/6 | {accuracy(supernet, held_out, full):.2f} | {op_params(supernet, mask_all)} | - |")
    for threshold in thresholds:
        compressed = guide.compress(threshold)
        counts = compressed.counts()["cell"]
        print(
            f"| {threshold:g} | {counts['ops_total'] - counts['ops']}/{counts['ops_total']} "
            f"| {counts['edges_total'] - counts['edges']}/{counts['edges_total']} "
            f"| {accuracy(supernet, held_out, compressed.weights):.2f} "
            f"| {op_params(supernet, compressed.masks['cell'])} | {compressed.genotype} |"
        )
    print("relevance per edge (rows) and op (columns " + ", ".join(space.ops) + "):")
    for edge, row in zip(space.edge_names, guide.relevance()["cell"]):
        print(f"  {edge:>5}  " + "  ".join(f"{v:.3f}" for v in row.tolist()))


if __name__ == "__main__":
    main()
