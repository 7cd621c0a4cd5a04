"""Command-line interface: ``pyronas search``, ``train``, ``lookup``, ``report`` and ``proxies``; thin API wrappers."""

from __future__ import annotations

import argparse
import json
import sys

from pyronas.benchmarks import ENV_VAR, BenchmarkError, NB201Table
from pyronas.data import DATASETS, DataError
from pyronas.infer import CheckpointError, SearchDiverged
from pyronas.proxies import PROXIES
from pyronas.registry import METHODS
from pyronas.spaces import SPACES, CellStringError
from pyronas.spaces.darts_genotype import GENOTYPES
from pyronas.train import TrainingDiverged

# The embedded digits data (8x8 images, 1,797 of them) is a demo: unless told otherwise, search it with a
# short schedule and a small supernet (C=8, one cell per stage) so that `pyronas search` takes about a minute
# on a CPU. Its 20 epochs give 280 architecture updates instead of the published NB201 search's 39,100, so an
# Adam architecture optimizer gets the published run's budget of steps, lr x updates = 3e-4 x 39,100 ~ 11.7,
# as lr 0.04; and no weight decay: the supernet fits digits within a few epochs, the data gradient on the
# architecture then vanishes, and the published L2 of 1e-3 (tuned to CIFAR's gradients) would hold the
# posterior near its prior (measured: largest op probability 0.30-0.48 per edge with it, 0.32-0.45 without).
DEMO_DEFAULTS = {
    "digits": {"epochs": 20, "cells_per_stage": 1, "channels": 8, "arch": {"adam": {"lr": 0.04, "weight_decay": 0.0}}}
}
USER_ERRORS = (
    BenchmarkError,
    CellStringError,
    CheckpointError,
    DataError,
    SearchDiverged,
    TrainingDiverged,
    ValueError,
)


def _search_parser(sub) -> None:
    p = sub.add_parser(
        "search", help="run an architecture search", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--method", default="drnas", choices=sorted(METHODS), help="search method (model+guide pair)")
    p.add_argument("--space", default="nb201", choices=sorted(SPACES), help="search space")
    p.add_argument("--dataset", default="digits", choices=DATASETS, help="data set (digits is embedded, no download)")
    p.add_argument(
        "--data-dir", default=None, help="data folder (cifar: torchvision root; folder: ImageFolder dir or zip)"
    )
    p.add_argument("--download", action="store_true", help="let torchvision download CIFAR into --data-dir")
    p.add_argument("--train-size", type=int, default=None, help="images per half of the split (default: all)")
    p.add_argument(
        "--image-size", type=int, default=None, help="resample images to N x N pixels (default: as stored)"
    )
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the method's protocol; 20 on digits)")
    p.add_argument(
        "--warmup-epochs",
        type=int,
        default=None,
        help="weight-only epochs before architecture steps (default: the method's share of --epochs; "
        "with --progressive: of each search stage)",
    )
    p.add_argument(
        "--progressive",
        action="store_true",
        help="the method's progressive schedule (drnas: partial channels 4 with all ops, then top-3 ops per edge "
        "at partial channels 2); its search stages and warm-ups scale with --epochs",
    )
    p.add_argument(
        "--partial-channels",
        type=int,
        default=None,
        metavar="K",
        help="send 1/K of each edge's channels through its mixed op, the rest bypass it (PC-DARTS; default off)",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--cells-per-stage", type=int, default=None, help="N, cells per stage (default: the space's: nb201 5, darts 2)"
    )
    p.add_argument(
        "--channels", type=int, default=None, help="C, channels of the first stage (default: 16; 8 on digits)"
    )
    p.add_argument("--weight-lr", type=float, default=0.025)
    p.add_argument("--weight-decay", type=float, default=None, help="supernet weight decay (default: method's)")
    p.add_argument(
        "--optim",
        default=None,
        choices=["adam", "ngvi"],
        help="architecture optimizer (default: the method's protocol)",
    )
    p.add_argument(
        "--arch-lr",
        type=float,
        default=None,
        help="architecture learning rate (default: the method's, else 3e-4 adam, 0.01 ngvi)",
    )
    p.add_argument(
        "--arch-weight-decay", type=float, default=None, help="architecture weight decay (default: the method's, 1e-3)"
    )
    p.add_argument("--elbo", default="trace", choices=["trace", "meanfield", "tracegraph", "device"], help="Pyro ELBO")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method option, e.g. --option kl_weight=0.1 (repeatable)",
    )
    p.add_argument("--benchmark", default=None, help=f"NB201 table (nb201_accuracy.csv); default ${ENV_VAR}")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument(
        "--distributed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="data-parallel over the processes of `torchrun --nproc_per_node=P -m pyronas search ...`; "
        "--batch-size is the global batch, split evenly (default: on when launched by torchrun)",
    )
    p.add_argument("--channels-last", action="store_true", help="feed the supernet channels-last batches (faster)")
    p.add_argument("--amp", default=None, choices=["bf16", "fp16"], help="autocast dtype (fast path, GPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the supernet (fast path)")
    p.add_argument(
        "--single-path",
        action="store_true",
        help="compute one sampled op per edge and cell in each training step instead of all (fast path)",
    )
    p.add_argument("--out", default="runs/search", help="output folder for log, checkpoint and result.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--select",
        default="argmax",
        help="final cell: argmax of the guide, or among --samples cells drawn from it the best by training-free "
        "proxies 'proxy:NAME' / 'proxy:A+B' (rank-sum) or by validation accuracy with the shared weights 'valid' "
        "(PGNAS: --select valid --samples 1500)",
    )
    p.add_argument("--samples", type=int, default=100, help="cells drawn for --select proxy:... / valid")
    p.add_argument(
        "--select-batches", type=int, default=10, help="held-out batches that score each cell under --select valid"
    )


def _parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"--option needs KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def cmd_search(args) -> int:
    import os

    from pyronas.api import search
    from pyronas.infer.distributed import is_main_process

    demo = DEMO_DEFAULTS.get(args.dataset, {})
    optim = args.optim or METHODS[args.method].protocol.get("arch_optim", "adam")
    demo_arch = demo.get("arch", {}).get(optim, {})
    benchmark = args.benchmark or (os.environ.get(ENV_VAR) if args.space == "nb201" else None)
    result = search(
        args.method,
        args.space,
        args.dataset,
        data_dir=args.data_dir,
        download=args.download,
        image_size=args.image_size,
        train_size=args.train_size,
        epochs=args.epochs if args.epochs is not None else demo.get("epochs"),
        warmup_epochs=args.warmup_epochs,
        progressive=args.progressive,
        partial_channels=args.partial_channels,
        batch_size=args.batch_size,
        seed=args.seed,
        channels=args.channels if args.channels is not None else demo.get("channels", 16),
        cells_per_stage=args.cells_per_stage or demo.get("cells_per_stage"),
        weight_lr=args.weight_lr,
        weight_decay=args.weight_decay,
        arch_optim=args.optim,
        arch_lr=args.arch_lr if args.arch_lr is not None else demo_arch.get("lr"),
        arch_weight_decay=demo_arch.get("weight_decay") if args.arch_weight_decay is None else args.arch_weight_decay,
        elbo=args.elbo,
        benchmark=benchmark,
        device=args.device,
        distributed=args.distributed,
        channels_last=args.channels_last,
        amp=args.amp,
        compile=args.compile,
        single_path=args.single_path,
        out_dir=args.out,
        resume=args.resume,
        progress=not args.quiet,
        method_options=dict(_parse_option(o) for o in args.option),
        select=args.select,
        samples=args.samples,
        select_batches=args.select_batches,
    )
    if not is_main_process():  # every rank holds the same result; rank 0 reports it
        return 0
    print(
        f"method {result.method} on {result.space}/{result.dataset}, seed {result.seed}, "
        f"{result.epochs} epochs in {result.seconds:.0f} s"
    )
    print(f"genotype: {result.genotype}")
    if result.selection is not None:
        print(f"  selected by {args.select} among {len(result.selection['candidates'])} distinct drawn cells")
        print(f"  argmax:   {result.argmax_genotype}")
    for cell, edges in result.op_probabilities.items():
        print(f"op probabilities ({cell}):")
        for edge, probs in edges.items():
            print(f"  {edge:>5}  " + "  ".join(f"{op}={p:.3f}" for op, p in probs.items()))
    if result.benchmark:
        bench = result.benchmark
        print(
            f"NB201: cifar10 test {bench['cifar10_test']:.2f}, cifar100 test {bench['cifar100_test']:.2f}, "
            f"imagenet16 test {bench['imagenet16_test']:.2f}"
        )
    print(f"wrote {os.path.join(args.out, 'result.json')}")
    return 0


def cmd_lookup(args) -> int:
    table = NB201Table(args.benchmark)
    cell = int(args.cell) if args.cell.isdigit() else args.cell
    print(json.dumps(table.query(cell), indent=2))
    return 0


def _train_parser(sub) -> None:
    import inspect

    from pyronas.train import train

    default = {k: p.default for k, p in inspect.signature(train).parameters.items()}
    p = sub.add_parser(
        "train",
        help="train the evaluation network of a found cell from scratch (the DARTS recipe)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--genotype",
        required=True,
        help="the cell: a DARTS 'Genotype(normal=[...], ...)' text or a published name "
        f"({', '.join(GENOTYPES)})",
    )
    p.add_argument("--space", default=default["space"], choices=sorted(SPACES), help="search space of the genotype")
    p.add_argument("--dataset", default=default["dataset"], choices=DATASETS, help="data set")
    p.add_argument(
        "--data-dir",
        default=None,
        help="data folder (cifar: torchvision root; folder: ImageFolder dir or zip, its test split beside it: "
        "cifar10-train-jpeg.zip -> cifar10-test-jpeg.zip)",
    )
    p.add_argument("--download", action="store_true", help="let torchvision download CIFAR into --data-dir")
    p.add_argument("--train-size", type=int, default=None, help="training images (a seeded subset; default: all)")
    p.add_argument(
        "--image-size", type=int, default=None, help="resample images to N x N pixels (default: as stored)"
    )
    p.add_argument("--test-size", type=int, default=None, help="test images (a seeded subset; default: all)")
    p.add_argument("--epochs", type=int, default=default["epochs"])
    p.add_argument("--batch-size", type=int, default=default["batch_size"])
    p.add_argument("--lr", type=float, default=default["lr"], help="initial learning rate (cosine to 0)")
    p.add_argument("--momentum", type=float, default=default["momentum"])
    p.add_argument("--weight-decay", type=float, default=default["weight_decay"])
    p.add_argument("--cutout", type=int, default=default["cutout"], help="cutout square side in pixels (0: off)")
    p.add_argument(
        "--drop-path", type=float, default=default["drop_path"], help="final drop-path probability (ramped from 0)"
    )
    p.add_argument(
        "--auxiliary-weight", type=float, default=default["auxiliary_weight"], help="auxiliary loss weight (0: no head)"
    )
    p.add_argument("--grad-clip", type=float, default=default["grad_clip"], help="gradient norm clip (0: off)")
    p.add_argument("--channels", type=int, default=default["channels"], help="C, channels of the first cells")
    p.add_argument(
        "--cells-per-stage", type=int, default=default["cells_per_stage"], help="N; the network has 3N+2 cells"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--out", default="runs/train", help="output folder for log, checkpoint and result.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps (smoke runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_train(args) -> int:
    import os

    from pyronas.train import train

    result = train(
        args.genotype,
        args.space,
        args.dataset,
        data_dir=args.data_dir,
        download=args.download,
        image_size=args.image_size,
        train_size=args.train_size,
        test_size=args.test_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        cutout=args.cutout,
        drop_path=args.drop_path,
        auxiliary_weight=args.auxiliary_weight,
        grad_clip=args.grad_clip or None,
        channels=args.channels,
        cells_per_stage=args.cells_per_stage,
        seed=args.seed,
        device=args.device,
        out_dir=args.out,
        resume=args.resume,
        max_steps=args.max_steps,
        progress=not args.quiet,
    )
    print(f"genotype: {result.genotype}")
    print(
        f"{result.params / 1e6:.3f} M parameters (without the auxiliary head); {result.epochs} epochs completed, "
        f"{result.steps} steps in {result.seconds:.0f} s"
    )
    if result.test_acc is not None:
        print(f"test accuracy {result.test_acc:.2f} %")
    print(f"wrote {os.path.join(args.out, 'result.json')}")
    return 0


def _report_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="posterior diagnostics of one or several searches (PNGs, summary.json)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("out_dirs", nargs="+", metavar="OUT_DIR", help="search folders, e.g. one per seed (one chain each)")
    p.add_argument("--to", default=None, help="report folder (default: OUT_DIR/report, or beside several OUT_DIRs)")
    p.add_argument("--draws", type=int, default=500, help="posterior draws per search")
    p.add_argument("--seed", type=int, default=0, help="seed of the posterior draws")
    p.add_argument("--benchmark", default=None, help=f"NB201 table for expected accuracies; default ${ENV_VAR}")


def cmd_report(args) -> int:
    import os

    from pyronas.diagnostics import write_report

    benchmark = args.benchmark or os.environ.get(ENV_VAR)
    table = NB201Table(benchmark) if benchmark else None
    written = write_report(args.out_dirs, args.to, num_draws=args.draws, seed=args.seed, benchmark=table)
    print("wrote " + ", ".join(str(path) for path in written.values()))
    return 0


def _proxies_parser(sub) -> None:
    p = sub.add_parser(
        "proxies",
        help="score NB201 cells with zero-cost proxies (CSV)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("cells", help="text file of cell strings, one a line")
    p.add_argument("--proxies", default="synflow,nwot,jacob_cov", help="comma-separated: " + ", ".join(PROXIES))
    p.add_argument("--dataset", default="digits", choices=DATASETS, help="data set of the scoring batch")
    p.add_argument("--data-dir", default=None, help="data folder (cifar: torchvision root; folder: dir or zip)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="seed of the network initialisation and the batch")
    p.add_argument("--out", default="proxies.csv", help="output CSV: arch,<proxy>... (undefined scores empty)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_proxies(args) -> int:
    from pyronas.data import load_dataset
    from pyronas.proxies import proxy_batch, proxy_names, read_cells, score_cells, write_csv

    names = proxy_names(args.proxies)
    cells = read_cells(args.cells)
    data = load_dataset(args.dataset, args.data_dir)
    images, labels = proxy_batch(data, args.batch_size, seed=args.seed)
    rows = score_cells(cells, names, images, labels, args.seed, num_classes=data.num_classes, progress=not args.quiet)
    write_csv(rows, names, args.out)
    print(f"scored {len(rows)} cells with {', '.join(names)}; wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyronas", description="Bayesian neural architecture search with Pyro")
    sub = parser.add_subparsers(dest="command", required=True)
    _search_parser(sub)
    _proxies_parser(sub)
    _report_parser(sub)
    _train_parser(sub)
    p = sub.add_parser("lookup", help="print a cell's NAS-Bench-201 row as JSON")
    p.add_argument("cell", help="NB201 cell string, or a benchmark index")
    p.add_argument("--benchmark", default=None, help=f"NB201 table (nb201_accuracy.csv); default ${ENV_VAR}")
    return parser


COMMANDS = {
    "search": cmd_search,
    "lookup": cmd_lookup,
    "report": cmd_report,
    "proxies": cmd_proxies,
    "train": cmd_train,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as e:
        print(f"pyronas {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pyronas {args.command}: interrupted (completed epochs are in the checkpoint)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
