"""Command-line interface: ``pyronas search``, ``train``, ``methods``, ``lookup``, ``report`` and ``proxies``.

``search`` and ``train`` options are derived from :class:`~pyronas.config.SearchConfig` and
:class:`~pyronas.train_config.TrainConfig` (:mod:`pyronas.cli_options`); ``--config FILE`` reads settings
(JSON, or YAML with PyYAML) under the options given, ``--print-config`` prints the resolved settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from pyronas.benchmarks import BenchmarkError, NB201Table
from pyronas.cli_options import add_fields, cli_defaults, given, read_config_file
from pyronas.config import BENCHMARK_ENV, FIELDS, SearchConfig, resolve, search_config
from pyronas.data import DATASETS, DataError
from pyronas.errors import OutputError
from pyronas.infer import CheckpointError, SearchDiverged
from pyronas.infer.contract import ContractError
from pyronas.proxies import PROXIES
from pyronas.registry import METHODS, get_method
from pyronas.spaces import CellStringError, get_space
from pyronas.train import TrainingDiverged
from pyronas.train_config import TrainConfig

USER_ERRORS = (BenchmarkError, CellStringError, CheckpointError, ContractError, DataError, OutputError,
               SearchDiverged, TrainingDiverged, ValueError)  # fmt: skip
SEARCH_FIELDS = list(FIELDS.values())
TRAIN_FIELDS = list(TrainConfig.__dataclass_fields__.values())


def _config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, metavar="FILE", help="settings file (JSON or YAML) under the options")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings as JSON and exit")


def _search_config(args) -> SearchConfig:
    base = read_config_file(args.config) if args.config else {}
    config = search_config(base) if base else SearchConfig()
    defaults = {k: v for k, v in cli_defaults(SEARCH_FIELDS).items() if config[k] is None}  # unless the file sets it
    return config.replace(**{**defaults, **given(args, SEARCH_FIELDS)})


def cmd_search(args) -> int:
    from pyronas.api import search
    from pyronas.infer.distributed import is_main_process

    config = _search_config(args)
    if args.print_config:
        spec = get_method(config.method)
        print(json.dumps(resolve(config, spec.protocol, get_space(config.space)).to_json(nested=True), indent=2))
        return 0
    result = search(config)
    if not is_main_process():  # every rank holds the same result; rank 0 reports it
        return 0
    print(f"method {result.method} on {result.space}/{result.dataset}, seed {result.seed}, "
          f"{result.epochs} epochs in {result.seconds:.0f} s\ngenotype: {result.genotype}")  # fmt: skip
    if result.selection is not None:
        print(f"  selected by {config['select']} among {len(result.selection['candidates'])} distinct drawn cells")
        print(f"  argmax:   {result.argmax_genotype}")
    for cell, edges in result.op_probabilities.items():
        print(f"op probabilities ({cell}):")
        for edge, probs in edges.items():
            print(f"  {edge:>5}  " + "  ".join(f"{op}={p:.3f}" for op, p in probs.items()))
    if result.benchmark:
        b = result.benchmark
        print(f"NB201: cifar10 test {b['cifar10_test']:.2f}, cifar100 test {b['cifar100_test']:.2f}, "
              f"imagenet16 test {b['imagenet16_test']:.2f}")  # fmt: skip
    print(f"wrote {os.path.join(config['out_dir'], 'result.json')}")
    return 0


def cmd_train(args) -> int:
    from pyronas.train import train

    base = TrainConfig.from_json(read_config_file(args.config)) if args.config else TrainConfig()
    defaults = {k: v for k, v in cli_defaults(TRAIN_FIELDS).items() if base[k] is None}
    config = base.replace(**{**defaults, **given(args, TRAIN_FIELDS)})
    if args.print_config:
        print(json.dumps(config.check().to_json(), indent=2))
        return 0
    result = train(config)
    print(f"genotype: {result.genotype}\n{result.params / 1e6:.3f} M parameters (without the auxiliary head); "
          f"{result.epochs} epochs completed, {result.steps} steps in {result.seconds:.0f} s")  # fmt: skip
    if result.test_acc is not None:
        print(f"test accuracy {result.test_acc:.2f} %")
    print(f"wrote {os.path.join(config.out_dir, 'result.json')}")
    return 0


def cmd_methods(args) -> int:
    for name in sorted(METHODS):
        spec = METHODS[name]
        print(f"{name}: {spec.description}")
        protocol = {k: v for k, v in spec.protocol.items() if k != "stages"}
        print("  protocol: " + ", ".join(f"{k}={v}" for k, v in protocol.items()))
        options = spec.options()
        print("  options (--option KEY=VALUE): " + (", ".join(f"{k}={v}" for k, v in options.items()) or "none"))
    return 0


def cmd_lookup(args) -> int:
    table = NB201Table(args.benchmark)
    cell = int(args.cell) if args.cell.isdigit() else args.cell
    print(json.dumps(table.query(cell), indent=2))
    return 0


def cmd_report(args) -> int:
    from pyronas.diagnostics import write_report

    benchmark = args.benchmark or os.environ.get(BENCHMARK_ENV)
    table = NB201Table(benchmark) if benchmark else None
    written = write_report(args.out_dirs, args.out, num_draws=args.draws, seed=args.seed, benchmark=table)
    print("wrote " + ", ".join(str(path) for path in written.values()))
    return 0


def cmd_proxies(args) -> int:
    from pyronas.data import load_dataset
    from pyronas.proxies import output_csv, proxy_batch, proxy_names, read_cells, score_cells, write_csv

    names = proxy_names(args.proxies)
    out = output_csv(args.out)  # checked (and its folder made) before any scoring
    cells = read_cells(args.cells)
    data = load_dataset(args.dataset, args.data_dir)
    images, labels = proxy_batch(data, args.batch_size, seed=args.seed)
    rows = score_cells(cells, names, images, labels, args.seed, num_classes=data.num_classes, progress=not args.quiet)
    write_csv(rows, names, out)
    print(f"scored {len(rows)} cells with {', '.join(names)}; wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyronas", description="Bayesian neural architecture search with Pyro")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("search", help="run an architecture search")
    add_fields(p, SEARCH_FIELDS)
    _config_options(p)
    p = sub.add_parser("train", help="train the evaluation network of a found cell from scratch (the DARTS recipe)")
    add_fields(p, TRAIN_FIELDS)
    _config_options(p)
    sub.add_parser("methods", help="list the search methods with their descriptions, protocols and options")
    bench = f"NB201 table (nb201_accuracy.csv; default: ${BENCHMARK_ENV})"
    p = sub.add_parser("proxies", help="score NB201 cells with zero-cost proxies (CSV)")
    p.add_argument("cells", help="text file of cell strings, one a line")
    p.add_argument("--proxies", default="synflow,nwot,jacob_cov", help="comma-separated: " + ", ".join(PROXIES))
    p.add_argument("--dataset", default="digits", choices=DATASETS, help="data set of the scoring batch")
    p.add_argument("--data-dir", default=None, help="data folder (cifar: torchvision root; folder: dir or zip)")
    p.add_argument("--batch-size", type=int, default=64, help="images of the scoring batch (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the batch (default: 0)")
    p.add_argument("--out", default="runs/proxies", help="output folder for proxies.csv, or a .csv file "
                   "(arch,<proxy>...; undefined scores empty; default: runs/proxies)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("report", help="posterior diagnostics of one or several searches (PNGs, summary.json)")
    p.add_argument("out_dirs", nargs="+", metavar="OUT_DIR", help="search folders, e.g. one per seed (one chain each)")
    p.add_argument("--out", "--to", dest="out", default=None, help="report folder (default: OUT_DIR/report, or "
                   "beside several OUT_DIRs; --to is a deprecated alias)")  # fmt: skip
    p.add_argument("--draws", type=int, default=500, help="posterior draws per search (default: 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the posterior draws (default: 0)")
    p.add_argument("--benchmark", default=None, help=bench + " for expected accuracies")
    p = sub.add_parser("lookup", help="print a cell's NAS-Bench-201 row as JSON")
    p.add_argument("cell", help="NB201 cell string, or a benchmark index")
    p.add_argument("--benchmark", default=None, help=bench)
    return parser


COMMANDS = {"search": cmd_search, "train": cmd_train, "methods": cmd_methods, "lookup": cmd_lookup,
            "report": cmd_report, "proxies": cmd_proxies}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as e:
        print(f"pyronas {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # a run's RunInterrupted says what was saved
        print(f"pyronas {args.command}: {str(e) or 'interrupted; nothing new was saved'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
