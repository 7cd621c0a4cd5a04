"""Command-line interface: ``pyronas search``, ``train``, ``methods``, ``lookup``, ``report`` and ``proxies``.

tyro parses every command from its dataclass of arguments; ``search`` and ``train`` options are those of
:class:`~pyronas.config.SearchConfig` and :class:`~pyronas.train_config.TrainConfig`, derived by
:mod:`pyronas.cli_options`. ``--config FILE`` (JSON or YAML, or a run folder, its ``result.json`` or
``checkpoint.pt``) gives the defaults of a second parse, so the options given win over the file; with
``--resume`` the run's own settings are those defaults and the options given are handed on by name
(:mod:`pyronas.run_settings` refuses those that would change the run); ``--print-config`` prints the resolved
settings.
"""

import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal, Union

import tyro

from pyronas.calls import from_cli
from pyronas.cli_options import flags_of, parse
from pyronas.config import BENCHMARK_ENV, SearchConfig, search_config
from pyronas.names import DATASETS, PROXIES
from pyronas.registry import METHODS
from pyronas.train_config import TrainConfig

# the command line is parsed (and a bad option refused) before torch is imported: the commands import what they run


def user_errors() -> tuple[type[Exception], ...]:
    """The errors a command reports in one line (the user's to mend) rather than as a traceback."""
    from pyronas.benchmarks import BenchmarkError
    from pyronas.data import DataError
    from pyronas.errors import OutputError
    from pyronas.infer import CheckpointError, SearchDiverged
    from pyronas.infer.contract import ContractError
    from pyronas.spaces import CellStringError
    from pyronas.train import TrainingDiverged

    return (BenchmarkError, CellStringError, CheckpointError, ContractError, DataError, OutputError,
            SearchDiverged, TrainingDiverged, ValueError)  # fmt: skip


FILE = (
    "settings under the options given: a JSON or YAML file, or a run folder (or its result.json or "
    "checkpoint.pt) to rerun it with --out NEW"
)
PRINT = "print the resolved settings as JSON and exit"
DESCRIPTION = "Bayesian neural architecture search with Pyro"
BENCH = f"NB201 table (nb201_accuracy.csv; default: ${BENCHMARK_ENV})"


def _arg(help: str, hint: str | None = None, **kwargs) -> tyro.conf.arg:
    return tyro.conf.arg(help=help, help_behavior_hint=hint, **kwargs)


@dataclass(frozen=True)
class SettingsArgs:
    """A command run from settings: a config dataclass (flattened into its options), a file, --print-config."""

    config: Annotated[str | None, _arg(FILE, "", metavar="FILE")] = None
    print_config: Annotated[bool, _arg(PRINT, ""), tyro.conf.FlagCreatePairsOff] = False
    # --resume of a run: the settings given on the command line (or in --config), by name; None: not resuming
    given: Annotated[tuple[str, ...] | None, tyro.conf.Suppress] = field(default=None, metadata={"cli": False})


@dataclass(frozen=True)
class SearchArgs(SettingsArgs):
    """run an architecture search"""

    command: ClassVar[str] = "search"
    kind: ClassVar[str] = "search"
    load: ClassVar = staticmethod(search_config)
    settings: Annotated[SearchConfig, tyro.conf.arg(name="")] = field(default_factory=SearchConfig)


@dataclass(frozen=True)
class TrainArgs(SettingsArgs):
    """train the evaluation network of a found cell from scratch (the DARTS recipe), or fine-tune a search's"""

    command: ClassVar[str] = "train"
    kind: ClassVar[str] = "training"
    load: ClassVar = staticmethod(TrainConfig.from_json)
    settings: Annotated[TrainConfig, tyro.conf.arg(name="")] = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class MethodsArgs:
    """list the search methods with their descriptions, protocols and options"""

    command: ClassVar[str] = "methods"


@dataclass(frozen=True)
class ProxiesArgs:
    """score cells with zero-cost proxies (CSV)"""

    command: ClassVar[str] = "proxies"
    cells: Annotated[str, tyro.conf.Positional, _arg("text file of cell strings, one a line", "", metavar="CELLS")]
    space: Annotated[str, _arg("search space of the cells: a registered name (nb201, darts, plugins) or a "
                               "package.module:factory path")] = "nb201"  # fmt: skip
    proxies: Annotated[str, _arg("comma-separated: " + ", ".join(PROXIES))] = "synflow,nwot,jacob_cov"
    dataset: Annotated[Literal[tuple(DATASETS)], _arg("data set of the scoring batch")] = "digits"
    data_dir: Annotated[str | None, _arg("data folder (cifar: torchvision root; folder: dir or zip)", "")] = None
    batch_size: Annotated[int, _arg("images of the scoring batch")] = 64
    seed: Annotated[int, _arg("seed of the initialisation and the batch")] = 0
    out: Annotated[str, _arg("output folder for proxies.csv, or a .csv file (arch,<proxy>...; undefined scores "
                             "empty)")] = "runs/proxies"  # fmt: skip
    quiet: Annotated[bool, _arg("no progress bar", ""), tyro.conf.FlagCreatePairsOff] = False


@dataclass(frozen=True)
class ReportArgs:
    """posterior diagnostics of one or several searches (PNGs, summary.json)"""

    command: ClassVar[str] = "report"
    out_dirs: Annotated[tuple[str, ...], tyro.conf.Positional,
                        _arg("search folders, e.g. one per seed (one chain each)", "", metavar="OUT_DIR")]  # fmt: skip
    out: Annotated[str | None, _arg("report folder (default: OUT_DIR/report, or beside several OUT_DIRs; "
                                    "--to is a deprecated alias)", "", aliases=("--to",))] = None  # fmt: skip
    draws: Annotated[int, _arg("posterior draws per search")] = 500
    seed: Annotated[int, _arg("seed of the posterior draws")] = 0
    benchmark: Annotated[str | None, _arg(BENCH + " for expected accuracies", "")] = None


@dataclass(frozen=True)
class LookupArgs:
    """print a cell's NAS-Bench-201 row as JSON"""

    command: ClassVar[str] = "lookup"
    cell: Annotated[str, tyro.conf.Positional, _arg("NB201 cell string, or a benchmark index", "", metavar="CELL")]
    benchmark: Annotated[str | None, _arg(BENCH, "")] = None


COMMAND_ARGS = (SearchArgs, TrainArgs, MethodsArgs, LookupArgs, ReportArgs, ProxiesArgs)


def parse_args(argv: list[str]):
    """The arguments of one command (exit code 2 on a bad option)."""
    named = tuple(Annotated[a, tyro.conf.subcommand(a.command, description=a.__doc__)] for a in COMMAND_ARGS)
    kinds = Union[named]  # noqa: UP007 (a union of a computed tuple has no `|` spelling)
    command = next((a for a in COMMAND_ARGS if argv and argv[0] == a.command), None)
    error_prog = f"pyronas {command.command}" if command else "pyronas"
    flags = flags_of(command) if command else []
    return parse(kinds, argv, prog="pyronas", description=DESCRIPTION, error_prog=error_prog, flags=flags)


def with_config_file(args, argv: list[str]):
    """``args`` parsed again over the settings of its ``--config`` (a file or a run), if any (options given win)."""
    if not getattr(args, "config", None):
        return args
    from pyronas.run_settings import config_of, settings_record

    default = type(args)(settings=config_of(args.kind, settings_record(args.config, args.kind)), config=args.config)
    return parse(type(args), argv[1:], default=default, prog=f"pyronas {args.command}")


def with_run(args, argv: list[str]):
    """``args`` of a ``--resume`` of a run in its ``--out`` folder, with ``given``: the settings typed (or in its
    ``--config``), which :mod:`pyronas.run_settings` lays over the run's (the parser's defaults are not given)."""
    settings = getattr(args, "settings", None)
    if settings is None or not settings["resume"] or settings["overwrite"]:
        return args
    from pyronas.run_settings import config_of, flat, given_settings, has_run, settings_record

    if not has_run(settings["out_dir"]):  # the folder's guard says what is missing; the run's kind is checked where
        return args  # the command reads its checkpoint (run_settings.stored_run), so it is read once less
    given = {"out_dir", "resume"} | typed_settings(argv, args.kind)
    if args.config:
        given |= set(given_settings(config_of(args.kind, settings_record(args.config, args.kind)), type(settings)()))
    return dataclasses.replace(args, given=tuple(name for name in flat(settings) if name in given))


def typed_settings(argv: list[str], kind: str) -> set[str]:
    """The settings whose flags ``argv`` holds (``--arch-lr 0.1``, ``--arch-lr=0.1``, ``--quiet``)."""
    from pyronas.run_settings import flags

    names = {flag: name for name, flag in flags(kind).items()}
    typed = set()
    for token in argv:
        if token.startswith("--"):
            flag = token.split("=", 1)[0].replace("_", "-")
            typed.add(names.get(flag, flag[2:].replace("-", "_")))
    return typed


def _given(args) -> dict:
    return {name: args.settings[name] for name in args.given}


def cmd_search(args) -> int:
    from pyronas.api import search
    from pyronas.infer.distributed import is_main_process

    config = args.settings
    if args.print_config:
        from pyronas.build import printed_config, resolve_search

        if args.given is not None:
            from pyronas.run_settings import SEARCH, continue_search, stored_run

            config = continue_search(stored_run(config["out_dir"], SEARCH), _given(args))[0]
        print(json.dumps(printed_config(resolve_search(config)), indent=2))
        return 0
    result = search(config) if args.given is None else search(**_given(args))
    if not is_main_process():  # every rank holds the same result; rank 0 reports it
        return 0
    config = result.config
    written = os.path.join(config["out_dir"], "result.json")
    if not config["progress"]:  # --quiet: one line
        b = result.benchmark
        nb201 = f"; NB201: cifar10 test {b['cifar10_test']:.2f}" if b else ""
        print(f"genotype: {result.genotype}{nb201}; wrote {written}")
        return 0
    print(f"method {result.method} on {result.space}/{result.dataset}, seed {result.seed}, "
          f"{result.epochs} epochs in {result.seconds:.0f} s\ngenotype: {result.genotype}")  # fmt: skip
    if result.selection is not None:
        print(f"  selected by {config['select']} among {len(result.selection['candidates'])} distinct drawn cells")
        print(f"  argmax:   {result.argmax_genotype}")
    if result.cost is not None:
        print(_cost_line(result.cost, result.argmax_genotype != result.genotype))
    for cell, edges in result.op_probabilities.items():
        print(f"op probabilities ({cell}):")
        for edge, probs in edges.items():
            print(f"  {edge:>5}  " + "  ".join(f"{op}={p:.3f}" for op, p in probs.items()))
    if result.benchmark:
        b = result.benchmark
        print(f"NB201: cifar10 test {b['cifar10_test']:.2f}, cifar100 test {b['cifar100_test']:.2f}, "
              f"imagenet16 test {b['imagenet16_test']:.2f}")  # fmt: skip
    print(f"wrote {written}")
    return 0


def _cost_line(cost: dict, replaced: bool) -> str:
    """What a cost-aware search's cell costs, its budget, and the argmax cell's cost where the budget replaced it."""
    cell = cost["genotype"]
    text = f"cost: {cell['params']:,} parameters, {cell['flops'] / 1e6:.3g} MFLOPs per image"
    text += f", {cell['latency_ms']:.3g} ms" if "latency_ms" in cell else ""
    text += f"; expected {cost['expected']:.4g} {cost['unit']} under the op probabilities"
    if cost["budget"] is not None:
        text += f"; budget {cost['budget']:g} {cost['unit']}"
    if replaced and cost["budget"] is not None:
        text += f" (the argmax cell, {cost['argmax_genotype']['predicted']:.4g} {cost['unit']}, is over it)"
    return text


def cmd_train(args) -> int:
    from pyronas.train import resolved, train

    config = args.settings
    if args.print_config:  # the cutout (null) waits for the image size
        if args.given is not None:
            from pyronas.run_settings import TRAINING, continue_training, stored_run

            config = continue_training(stored_run(config["out_dir"], TRAINING), _given(args))[0]
        print(json.dumps(resolved(config).to_json(), indent=2))
        return 0
    result = train(config) if args.given is None else train(**_given(args))
    print(f"genotype: {result.genotype}\n{result.params / 1e6:.3f} M parameters (without the auxiliary head); "
          f"{result.epochs} epochs completed, {result.steps} steps in {result.seconds:.0f} s")  # fmt: skip
    if result.test_acc is not None:
        where = "" if result.test_split == "test" else f" ({result.test_split})"
        print(f"{'test' if result.test_split == 'test' else 'held-out'} accuracy {result.test_acc:.2f} %{where}")
    print(f"wrote {os.path.join(config.out_dir, 'result.json')}")
    return 0


def cmd_methods(args) -> int:
    for name in sorted(METHODS):
        spec = METHODS[name]
        print(f"{name}: {spec.description}")
        protocol = {k: v for k, v in spec.protocol.items() if k not in ("stages", "spaces")}
        print("  protocol: " + ", ".join(f"{k}={v}" for k, v in protocol.items()))
        for space, own in spec.protocol.get("spaces", {}).items():
            print(f"  on {space}: " + ", ".join(f"{k}={v}" for k, v in own.items()))
        options = spec.options()
        print("  options (--option KEY=VALUE): " + (", ".join(f"{k}={v}" for k, v in options.items()) or "none"))
    return 0


def cmd_lookup(args) -> int:
    from pyronas.benchmarks import NB201Table

    table = NB201Table(args.benchmark)
    cell = int(args.cell) if args.cell.isdigit() else args.cell
    print(json.dumps(table.query(cell), indent=2))
    return 0


def cmd_report(args) -> int:
    from pyronas.benchmarks import NB201Table
    from pyronas.diagnostics import write_report

    benchmark = args.benchmark or os.environ.get(BENCHMARK_ENV)
    table = NB201Table(benchmark) if benchmark else None
    written = write_report(args.out_dirs, args.out, num_draws=args.draws, seed=args.seed, benchmark=table)
    print("wrote " + ", ".join(str(path) for path in written.values()))
    return 0


def cmd_proxies(args) -> int:
    from pyronas.data import load_dataset
    from pyronas.proxies import output_csv, proxy_batch, proxy_names, read_cells, score_cells, write_csv
    from pyronas.spaces import get_space

    names = proxy_names(args.proxies)
    space = get_space(args.space)
    out = output_csv(args.out)  # checked (and its folder made) before any scoring
    cells = read_cells(args.cells)
    data = load_dataset(args.dataset, args.data_dir)
    images, labels = proxy_batch(data, args.batch_size, seed=args.seed)
    rows = score_cells(
        cells, names, images, labels, args.seed, space=space, num_classes=data.num_classes, progress=not args.quiet
    )
    write_csv(rows, names, out)
    print(f"scored {len(rows)} cells with {', '.join(names)}; wrote {out}")
    return 0


COMMANDS = {"search": cmd_search, "train": cmd_train, "methods": cmd_methods, "lookup": cmd_lookup,
            "report": cmd_report, "proxies": cmd_proxies}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        args = with_config_file(args, argv)
        with from_cli():
            args = with_run(args, argv)
            return COMMANDS[args.command](args)
    except Exception as e:
        if not isinstance(e, user_errors()):
            raise
        print(f"pyronas {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # a run's RunInterrupted says what was saved
        print(f"pyronas {args.command}: {str(e) or 'interrupted; nothing new was saved'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
