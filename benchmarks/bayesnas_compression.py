"""BayesNAS compression on digits: accuracy of the supernet unpruned vs pruned at a few relevance thresholds.

Searches BayesNAS on the embedded digits data (NB201 space), reloads the trained supernet and guide from the
search's checkpoint, and evaluates the supernet on the architecture half (never used to train the weights) with
(a) the posterior-mean mixing weights and (b) those weights pruned at each threshold. Prints per threshold the
fraction of ops and edges pruned, the accuracy, and the parameters of the surviving ops (supernet cells only;
stem, reduction blocks and classifier are the same for every row and counted apart). BatchNorm runs in eval mode.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bayesnas_compression.py --epochs 10
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from pyronas.api import search
from pyronas.data import Batches, load_dataset, split_halves
from pyronas.infer.checkpoint import load_checkpoint
from pyronas.nn.nb201 import NB201SearchCell
from pyronas.registry import get_method
from pyronas.spaces import get_space


def load_trained(out_dir: Path, space, config: dict, num_classes: int, in_channels: int):
    """The search's model and guide, supernet weights included, from ``out_dir/checkpoint.pt``."""
    state = load_checkpoint(out_dir / "checkpoint.pt")
    supernet = space.supernet(
        channels=config["channels"],
        cells_per_stage=config["cells_per_stage"],
        num_classes=num_classes,
        in_channels=in_channels,
    )
    model, guide = get_method("bayesnas").build(supernet, space, **config["method_options"])
    model.load_state_dict(state["model"])
    guide.load_state_dict(state["guide"])
    return model, guide


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
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10, help="search epochs (the protocol's 1 learns little on digits)")
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--cells-per-stage", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--arch-lr", type=float, default=None, help="architecture learning rate (default: the method's)")
    p.add_argument("--thresholds", default="0.01,0.05,0.1,0.2,0.3,0.5", help="comma-separated relevance thresholds")
    p.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="method option, e.g. kl_weight=0.01"
    )
    args = p.parse_args(argv)
    options = {k: float(v) for k, v in (o.split("=", 1) for o in args.option)}

    space = get_space("nb201")
    with tempfile.TemporaryDirectory() as tmp:
        result = search(
            "bayesnas",
            dataset="digits",
            epochs=args.epochs,
            channels=args.channels,
            cells_per_stage=args.cells_per_stage,
            seed=args.seed,
            arch_lr=args.arch_lr,
            out_dir=tmp,
            progress=False,
            method_options=options,
        )
        data = load_dataset("digits")
        model, guide = load_trained(Path(tmp), space, result.config, data.num_classes, data.in_channels)
    weights_half, arch_half = split_halves(data)
    train = Batches(weights_half, 64, seed=args.seed)
    held_out = Batches(arch_half, 64, augment=False, mean=train.mean, std=train.std)
    supernet = model.supernet
    print(
        f"BayesNAS on digits: {args.epochs} epochs, C={args.channels}, N={args.cells_per_stage}, "
        f"seed {args.seed}, {result.seconds:.0f} s; options {options or 'default'}"
    )
    print(f"argmax cell: {result.genotype}")
    full = guide.mean_weights()
    mask_all = torch.ones(space.arch_shape["cell"], dtype=torch.bool)
    fixed = sum(p.numel() for p in supernet.parameters()) - op_params(supernet, mask_all)
    print(f"parameters outside the cells' ops: {fixed}")
    print("| threshold | ops pruned | edges pruned | held-out acc (%) | op params | compressed cell |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| none | 0/24 | 0/6 | {accuracy(supernet, held_out, full):.2f} | {op_params(supernet, mask_all)} | - |")
    for threshold in (float(t) for t in args.thresholds.split(",")):
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
