"""A search's settings as frozen dataclasses, filled in and checked once by :func:`resolve`.

``SearchConfig`` nests one section per part of a search (data, supernet, weight and architecture
optimizers, schedule, runtime, selection). Every field name is unique across sections, so a flat
keyword (``epochs=4``, ``arch_lr=0.05``) names one field: :meth:`SearchConfig.replace` takes flat
keywords, and the CLI derives one option per field (:mod:`pyronas.cli_options`) from the field's
``metadata`` (help text, flag, choices). ``None`` means "resolve me": :func:`resolve` fills it from the
method's protocol, the data set's demo defaults (:data:`DATASET_DEFAULTS`) and the space, and is the
only place that does. ``to_json``/``from_json`` are versioned; ``from_json`` also reads the flat
configs that checkpoints and ``result.json`` held before version 2. ``resume_key`` keeps only what
changes a search's trajectory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pyronas.costs.units import COST_METRICS, check_costs
from pyronas.data.batches import DRAWS
from pyronas.infer.bilevel import CLIP_SPANS
from pyronas.infer.search import STEP_ORDERS
from pyronas.infer.stages import as_stages, scale_stages
from pyronas.select import ARGMAX, VALID, parse_rule
from pyronas.validate import SEARCH_LIMITS, check_device, check_limits, check_out_dir, check_stages

VERSION = 2
ARCH_LR = {"adam": 3e-4, "ngvi": 0.01}  # default architecture learning rate per optimizer name
ELBO_NAMES = ("trace", "meanfield", "tracegraph", "device")
AMP_NAMES = ("bf16", "fp16")
# the step protocol (how one search iteration is taken); the first value of each is the generic default
STEP_PROTOCOL = {"step_order": STEP_ORDERS, "grad_clip_span": CLIP_SPANS, "valid_batches": DRAWS, "nesterov": None}
BENCHMARK_ENV = "PYRONAS_NB201"
# The embedded digits data (8x8 images, 1,797 of them) is a demo: unless told otherwise, search it with a short
# schedule (at most 20 epochs) and a small supernet (C=8, one cell per stage) so that a search takes about a minute
# on a CPU. Its 20 epochs give 280 architecture updates instead of the published NB201 search's 39,100, so an
# Adam architecture optimizer gets the published run's budget of steps, lr x updates = 3e-4 x 39,100 ~ 11.7,
# as lr 0.04; and no weight decay: the supernet fits digits within a few epochs, the data gradient on the
# architecture then vanishes, and the published L2 of 1e-3 (tuned to CIFAR's gradients) would hold the
# posterior near its prior (measured: largest op probability 0.30-0.48 per edge with it, 0.32-0.45 without).
DATASET_DEFAULTS = {
    "digits": {
        "max_epochs": 20,
        "cells_per_stage": 1,
        "channels": 8,
        "arch": {"adam": {"arch_lr": 0.04, "arch_weight_decay": 0.0}},
    }
}
DEFAULT_CHANNELS = 16
NOT_GIVEN = object()  # a field's ``before`` that was not given (``None`` is a value runs before it had)


def option(
    default: Any = None,
    help: str = "",
    *,
    flag: str | None = None,
    choices=None,
    cli: bool = True,
    trajectory: bool = True,
    cli_default: Any = None,
    factory=None,
    before: Any = NOT_GIVEN,
    json: bool = False,
) -> Any:
    """A config field with the metadata the CLI and :meth:`SearchConfig.resume_key` read.

    ``flag``: the CLI option (default ``--field-name``); ``choices``: a tuple or a callable returning one;
    ``cli=False``: Python (and config files) only; ``trajectory=False``: left out of the resume key;
    ``cli_default``: the command line's default where it differs (``--out runs/search``); ``before``: the value
    that reproduces runs made before the field existed (left out of the resume key, so their checkpoints resume);
    ``json``: a ``dict`` field given on the command line as one JSON object (``--elbo-args '{"alpha": 0.5}'``).
    """
    meta = dict(help=help, flag=flag, choices=choices, cli=cli, trajectory=trajectory, cli_default=cli_default)
    if before is not NOT_GIVEN:
        meta["before"] = before
    if json:
        meta["json"] = True
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _methods() -> tuple[str, ...]:
    from pyronas.registry import METHODS

    return tuple(sorted(METHODS))


def _spaces() -> tuple[str, ...]:
    from pyronas.spaces import SPACES

    return tuple(sorted(SPACES))


def _datasets() -> tuple[str, ...]:
    from pyronas.data import DATASETS

    return tuple(DATASETS)


def _elbos() -> tuple[str, ...]:
    from pyronas.infer.elbos import elbo_names

    return elbo_names()


def _pyro_optimizers() -> tuple[str, ...]:
    from pyronas.optim.named import pyro_optimizers

    return pyro_optimizers()


def _arch_optims() -> tuple[str, ...]:
    return (*ARCH_LR, *_pyro_optimizers())


@dataclass(frozen=True)
class DataConfig:
    dataset: str = option("digits", "data set (digits is embedded, no download)", choices=_datasets)
    data_dir: str | None = option(
        None, "data folder (cifar: torchvision root; folder: ImageFolder dir or zip)", trajectory=False
    )
    download: bool = option(False, "let torchvision download CIFAR into --data-dir", trajectory=False)
    image_size: int | None = option(None, "resample images to N x N pixels (default: as stored)")
    train_size: int | None = option(None, "images per half of the split (default: all)")
    batch_size: int = option(64, "images per step and half (the global batch when distributed)")
    valid_batches: str | None = option(
        None,
        "architecture batches: 'epoch' (one shuffled pass per epoch), 'random' (a fresh random batch every "
        "step) or 'random-replace' (every image drawn at random, with replacement) (default: the method's "
        "for the space, else epoch)",
        choices=DRAWS,
        before="epoch",
    )


@dataclass(frozen=True)
class SupernetConfig:
    channels: int | None = option(None, "C, channels of the first stage (default: 16; 8 on digits)")
    cells_per_stage: int | None = option(
        None, "N, cells per stage (default: 1 on digits, else the space's: nb201 5, darts 2)"
    )
    channels_last: bool = option(False, "feed the supernet channels-last batches (faster)", trajectory=False)
    single_path: bool = option(False, "compute one sampled op per edge and cell in each training step (fast path)")
    compile: bool = option(False, "torch.compile the supernet (fast path)", trajectory=False)


@dataclass(frozen=True)
class WeightOptimConfig:
    weight_lr: float = option(0.025, "supernet SGD learning rate (cosine to --weight-lr-min)")
    weight_lr_min: float = option(0.001, "final supernet learning rate")
    weight_decay: float | None = option(None, "supernet weight decay (default: the method's, else 3e-4)")
    grad_clip: float = option(5.0, "gradient norm clip of the supernet weights")
    grad_clip_span: str | None = option(
        None,
        "what the clipped norm spans: 'weights'; 'weights+arch' (also the architecture parameters' "
        "gradients of the training loss; only the weights are stepped); 'weights+arch-accumulated' (those "
        "gradients plus the last architecture step's, NB201's DARTS-V1) (default: the method's for the space, "
        "else weights)",
        choices=CLIP_SPANS,
        before="weights",
    )
    nesterov: bool | None = option(
        None, "Nesterov momentum in the supernet SGD (default: the method's for the space, else off)", before=False
    )
    weight_optim: Any = option(
        None,
        "weights' optimizer: a pyro.optim optimizer by name (e.g. Adam), under the --weight-lr cosine schedule and "
        "the --grad-clip norm clip, or (Python) a Pyro optimizer (default: SGD, momentum 0.9)",
        choices=_pyro_optimizers,
    )
    weight_optim_args: dict = option(
        help="keyword arguments of the weights' optimizer as a JSON object, e.g. '{\"momentum\": 0.5}' (lr and "
        "weight_decay here replace --weight-lr and --weight-decay)",
        factory=dict,
        before={},
        json=True,
    )


@dataclass(frozen=True)
class ArchOptimConfig:
    arch_optim: Any = option(
        None,
        "architecture optimizer: adam (DARTS' Adam, betas 0.5/0.999), ngvi (natural-gradient VI), any pyro.optim "
        "optimizer by name (e.g. ClippedAdam, at its own defaults), or (Python) a Pyro optimizer (default: the "
        "method's, else adam)",
        flag="--optim",
        choices=_arch_optims,
    )
    arch_optim_args: dict = option(
        help='keyword arguments of the architecture optimizer as a JSON object, e.g. \'{"lr": 0.01, '
        '"clip_norm": 5}\' (lr and weight_decay here stand for --arch-lr and --arch-weight-decay)',
        flag="--optim-args",
        factory=dict,
        before={},
        json=True,
    )
    arch_lr: float | None = option(
        None, "architecture learning rate (default: the method's, else 3e-4 adam, 0.01 ngvi)"
    )
    arch_weight_decay: float | None = option(
        None, "architecture weight decay, Adam only (default: the method's, else 1e-3)"
    )


@dataclass(frozen=True)
class ScheduleConfig:
    epochs: int | None = option(
        None,
        "epochs (default: the method's protocol, at most 20 on digits); with --resume, more than the run's extend it "
        "(added epochs go to the last stage; the epochs still to run take the weight-lr cosine of the new total)",
    )
    warmup_epochs: int | None = option(
        None,
        "weight-only epochs before architecture steps (default: the method's share of --epochs; "
        "with --progressive: of each search stage)",
    )
    progressive: bool = option(
        False,
        "the method's progressive schedule, scaled to --epochs (drnas: partial "
        "channels 4 with all ops, then the top-3 ops per edge at partial channels 2)",
    )
    partial_channels: int | None = option(
        None, "send 1/K of each edge's channels through its mixed op (PC-DARTS; default off)"
    )
    stages: tuple | None = option(None, "explicit stages: dicts of pyronas.infer.Stage fields", cli=False)
    step_order: str | None = option(
        None,
        "order of the two steps of an iteration: 'arch-first' (original DARTS, DrNAS) or 'weights-first' "
        "(NB201's DARTS-V1) (default: the method's for the space, else arch-first)",
        choices=STEP_ORDERS,
        before="arch-first",
    )


@dataclass(frozen=True)
class RuntimeConfig:
    seed: int = option(0, "seed of the split, the batches and the initialisation")
    elbo: Any = option(
        "trace",
        "Pyro ELBO: trace, meanfield, tracegraph, device, or any pyro.infer ELBO by class name, e.g. RenyiELBO "
        "(Python: or an ELBO instance)",
        choices=_elbos,
    )
    elbo_args: dict = option(
        help="keyword arguments of the ELBO as a JSON object, e.g. '{\"alpha\": 0.5}' for RenyiELBO",
        factory=dict,
        before={},
        json=True,
    )
    amp: str | None = option(None, "autocast dtype (fast path, GPU; default off)", choices=AMP_NAMES)
    device: str = option("cpu", "torch device, e.g. cpu or cuda", trajectory=False)
    distributed: bool | None = option(
        None, "data-parallel over the processes of torchrun (default: on when launched by torchrun)", trajectory=False
    )
    benchmark: str | None = option(
        None, f"NB201 table (nb201_accuracy.csv; default: ${BENCHMARK_ENV} on nb201)", trajectory=False
    )
    out_dir: str | None = option(
        None,
        "output folder for log, checkpoint and result.json",
        flag="--out",
        trajectory=False,
        cli_default="runs/search",
    )
    resume: bool = option(
        False,
        "continue the run in OUT from its checkpoint.pt, with the run's settings (a setting given that would change "
        "the run is refused; a larger --epochs extends it)",
        trajectory=False,
    )
    overwrite: bool = option(
        False, "start afresh in an OUT holding a previous run (its files move to OUT/previous-<time>)", trajectory=False
    )
    progress: bool = option(True, "no progress bar and no per-epoch lines", flag="--quiet", trajectory=False)
    tensorboard: bool = option(False, "also log to OUT/tensorboard (needs the tensorboard package)", trajectory=False)


@dataclass(frozen=True)
class SelectionConfig:
    select: str = option(
        "argmax",
        "final cell: the guide's argmax, 'proxy:NAME' / 'proxy:A+B' among --samples drawn "
        "cells, or 'valid' (PGNAS: --select valid --samples 1500)",
        trajectory=False,
    )
    samples: int = option(100, "cells drawn for --select proxy:... / valid", trajectory=False)
    select_batches: int = option(10, "held-out batches that score each cell under --select valid", trajectory=False)


@dataclass(frozen=True)
class CostConfig:
    cost: str | None = option(
        None,
        "cost-aware search: a prior p(a) ~ exp(-cost_weight * cost(a)) on the architecture, by parameters, "
        "FLOPs per image or latency (ms per image, measured once on --device and cached) (default: none)",
        choices=COST_METRICS,
        before=None,
    )
    cost_weight: float | None = option(
        None,
        "lambda >= 0 of the cost prior, in loss nats per cost span: the costliest architecture of the space "
        "(at the search's size) is exp(-lambda) times as probable a priori as the cheapest; with --budget it "
        "weighs the expected cost above the budget only (default: 1 with --cost)",
        before=None,
    )
    budget: Any = option(
        None,
        "the most the derived architecture may cost: parameters as 0.5M or 500k, FLOPs per image as 20M or "
        "1.5G, latency as 5ms; needs --cost (default: none)",
        before=None,
    )
    cost_size: dict = option(
        help="the standalone network whose costs are counted, as a JSON object of channels, cells_per_stage and "
        "image_size, e.g. '{\"channels\": 16, \"cells_per_stage\": 5, \"image_size\": 32}' to search a small "
        "supernet under the budget of NB201's full-size network (default: the search's own size)",
        factory=dict,
        before={},
        json=True,
    )


SECTIONS = {
    "data": DataConfig,
    "supernet": SupernetConfig,
    "weights": WeightOptimConfig,
    "arch": ArchOptimConfig,
    "schedule": ScheduleConfig,
    "runtime": RuntimeConfig,
    "selection": SelectionConfig,
    "costs": CostConfig,
}


@dataclass(frozen=True)
class SearchConfig:
    """Everything a search needs; ``None`` fields are filled by :func:`resolve`.

    ``guide`` (Python only) replaces the method's guide: a guide object, or a class called with the
    method's model with the supernet hidden (``pyro.infer.autoguide.AutoNormal``).
    """

    method: str = option("drnas", "search method (model+guide pair; `pyronas methods` lists them)", choices=_methods)
    space: Any = option(
        "nb201",
        "search space: a registered name (nb201, darts, plugins), a package.module:factory path, or (Python) "
        "a SearchSpace or network factory",
    )
    method_options: dict = option(
        help="method option, e.g. --option kl_weight=0.1 (repeatable)", flag="--option", factory=dict
    )
    guide: Any = option(
        None,
        "a class of pyro.infer.autoguide replacing the method's guide, e.g. AutoNormal (Python: any guide "
        "object or class; default: the method's guide)",
    )
    guide_args: dict = option(
        help="keyword arguments of the --guide class as a JSON object, e.g. '{\"init_scale\": 0.05}'",
        factory=dict,
        before={},
        json=True,
    )
    data: DataConfig = field(default_factory=DataConfig)
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    weights: WeightOptimConfig = field(default_factory=WeightOptimConfig)
    arch: ArchOptimConfig = field(default_factory=ArchOptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    costs: CostConfig = field(default_factory=CostConfig)

    def __getitem__(self, name: str) -> Any:
        """A field by its flat name (``config["arch_lr"]``)."""
        section = FLAT.get(name)
        if section is None:
            raise KeyError(name)
        return getattr(self if section == "" else getattr(self, section), name)

    def keys(self) -> list[str]:
        """The flat field names (``{**config}`` and ``dict(config)`` give the flat settings)."""
        return list(FLAT)

    def replace(self, **flat) -> SearchConfig:
        """A copy with fields replaced by flat name; one-line error for an unknown name."""
        unknown = sorted(set(flat) - set(FLAT))
        if unknown:
            raise ValueError(f"unknown search setting(s) {', '.join(unknown)}; see pyronas search --help")
        top = {k: v for k, v in flat.items() if FLAT[k] == ""}
        for section in SECTIONS:
            given = {k: v for k, v in flat.items() if FLAT[k] == section}
            if given:
                top[section] = dataclasses.replace(getattr(self, section), **given)
        return dataclasses.replace(self, **top)

    def flat(self) -> dict[str, Any]:
        """Every field by its flat name."""
        return {name: self[name] for name in FLAT}

    def to_json(self, nested: bool = False) -> dict:
        """``{"version": 2, <every field by its flat name>}`` (the same keys whatever was used), or with ``nested``
        one mapping per section; Python objects are named by their class (``"python:module.Class"``)."""
        out = {"version": VERSION}
        for name, section in FLAT.items():
            value = _space_name(self[name]) if name == "space" else _jsonable(self[name])
            (out if section == "" or not nested else out.setdefault(section, {}))[name] = value
        return out

    @classmethod
    def from_json(cls, record: Mapping) -> SearchConfig:
        """Read :meth:`to_json`'s output, or a flat pre-version-2 config (checkpoints, ``result.json``)."""
        record = dict(record)
        version = record.pop("version", 1)
        if version > VERSION:
            raise ValueError(f"config version {version} is newer than this pyronas reads ({VERSION}); upgrade pyronas")
        flat = {}
        for key, value in record.items():
            if isinstance(value, Mapping) and key in SECTIONS:
                flat.update(value)
            else:
                flat[key] = value
        if version == 1:
            flat = _from_flat_v1(flat)
        # Python objects cannot be rebuilt from their class name, except a guide class (its state then loads)
        flat = {
            k: v for k, v in flat.items() if k == "guide" or not (isinstance(v, str) and v.startswith(PYTHON_OBJECT))
        }
        return cls().replace(**flat)

    def resume_key(self) -> dict:
        """The settings that change a search's trajectory (a resumed search must match them), normalised."""
        key = {name: _jsonable(self[name]) for name, f in FIELDS.items() if f.metadata.get("trajectory", True)}
        key["space"] = _space_name(self.space)
        key["stages"] = (
            [dataclasses.asdict(s) for s in as_stages(self.schedule.stages or ())] if self.schedule.stages else []
        )
        for name in ("warmup_epochs", "progressive", "partial_channels"):  # folded into the stages
            key.pop(name)
        for name, f in FIELDS.items():  # settings at the behaviour that runs before them had
            if "before" in f.metadata and key.get(name) in (None, f.metadata["before"]):
                key.pop(name)
        return key


PYTHON_OBJECT = "python:"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):  # folders and files are recorded as their paths
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    cls = value if isinstance(value, type) else type(value)
    return f"{PYTHON_OBJECT}{cls.__module__}.{cls.__qualname__}"


def _space_name(space: Any) -> str:
    """A space as configs record it: its name or path (a space object or factory by the name it was given)."""
    if isinstance(space, str):
        return space
    from pyronas.spaces import SearchSpace
    from pyronas.spaces.module_space import factory_path

    if isinstance(space, SearchSpace):
        return space.name
    if isinstance(space, type):
        return getattr(space, "name", None) or _jsonable(space)
    return (factory_path(space) if callable(space) else None) or _jsonable(space)


def _from_flat_v1(flat: dict) -> dict:
    """A pre-version-2 config (already resolved; stages only when a schedule ran) in version 2's terms."""
    flat = {k: v for k, v in flat.items() if k in FLAT}  # hand-made configs may hold keys of their own
    if "stages" not in flat and "epochs" in flat:
        flat["stages"] = [{"epochs": flat["epochs"], "warmup_epochs": flat.get("warmup_epochs", 0)}]
    if "stages" in flat:
        flat["warmup_epochs"] = None
    return flat


def _collect() -> tuple[dict[str, str], dict[str, dataclasses.Field]]:
    where, found = {}, {}
    for f in fields(SearchConfig):
        if f.name in SECTIONS:
            for g in fields(SECTIONS[f.name]):
                where[g.name], found[g.name] = f.name, g
        else:
            where[f.name], found[f.name] = "", f
    return where, found


FLAT, FIELDS = _collect()  # flat field name -> section ("" for top level), and -> its dataclass field


def space_protocol(protocol: Mapping, space: str) -> dict:
    """A method's protocol for one space: its ``spaces[space]`` entries over the rest (``spaces`` dropped)."""
    own = dict(protocol)
    per_space = own.pop("spaces", {}).get(space, {})
    return {**own, **per_space}


def resolve(config: SearchConfig, protocol: Mapping, space: Any) -> SearchConfig:
    """``config`` with every ``None`` filled in and the combination checked (one-line ``ValueError``).

    ``protocol`` is the method's (:attr:`pyronas.registry.MethodSpec.protocol`; its ``spaces`` entry, per space
    name, overrides the rest for that space), ``space`` the :class:`~pyronas.spaces.SearchSpace`.
    Resolving a resolved config returns it unchanged. After it,
    ``schedule.stages`` always holds the schedule (dicts of :class:`~pyronas.infer.stages.Stage` fields),
    ``schedule.epochs`` their total, and ``progressive``/``partial_channels`` are folded into the stages.
    """
    c, s = config, config.schedule
    protocol = space_protocol(protocol, space.name)
    demo = DATASET_DEFAULTS.get(c.data.dataset, {})
    if sum([bool(s.progressive), s.partial_channels is not None, s.stages is not None]) > 1:
        raise ValueError("give only one of progressive, partial_channels and stages")
    if s.progressive and "stages" not in protocol:
        raise ValueError(f"method {c.method!r} has no progressive schedule; give stages=[...] or partial_channels")
    protocol_epochs = protocol.get("epochs", 50)
    base = protocol["stages"] if s.progressive else s.stages
    epochs = s.epochs
    if epochs is None and "max_epochs" in demo and s.stages is None:  # the demo shortens the method's schedule
        total = protocol_epochs if base is None else sum(st["epochs"] for st in base)
        epochs = min(total, demo["max_epochs"])
    if base is not None:
        stages = scale_stages(base, epochs, s.warmup_epochs)
    else:
        epochs = protocol_epochs if epochs is None else epochs
        warmup = s.warmup_epochs
        if warmup is None:  # keep the protocol's share of warm-up epochs
            warmup = round(protocol.get("warmup_epochs", 0) * epochs / protocol_epochs)
        stages = as_stages([{"epochs": epochs, "warmup_epochs": warmup, "partial_channels": s.partial_channels}])
    stages = tuple(dataclasses.asdict(st) for st in stages)
    arch = _resolve_arch(c, protocol, demo)
    optim = _resolve_weight_optim(c)
    _check_elbo(c.runtime.elbo, c.runtime.elbo_args)
    _check_guide(c.guide, c.guide_args)
    if c.runtime.amp is not None and c.runtime.amp not in AMP_NAMES:
        raise ValueError(f"unknown amp {c.runtime.amp!r}; choose one of: {', '.join(AMP_NAMES)} (or none)")
    if c.supernet.compile and c.supernet.single_path:
        raise ValueError("compile and single_path do not combine (every drawn path would be a new graph); drop one")
    benchmark = c.runtime.benchmark
    if benchmark is None and space.name == "nb201":
        benchmark = os.environ.get(BENCHMARK_ENV) or None
    elif benchmark is not None and space.name != "nb201":
        raise ValueError(f"the NB201 table only looks up nb201 cells; drop --benchmark for --space {space.name}")
    parse_rule(c.selection.select)  # fail before the search on a malformed rule
    if c.selection.select == VALID and c.selection.select_batches < 1:
        raise ValueError(f"select_batches must be >= 1, got {c.selection.select_batches}")
    if c.selection.select != ARGMAX and not (isinstance(c.selection.samples, int) and c.selection.samples >= 1):
        raise ValueError(f"--select {c.selection.select} needs --samples >= 1, got {c.selection.samples!r}")
    step = {}
    for name, choices in STEP_PROTOCOL.items():
        value = c[name] if c[name] is not None else protocol.get(name, FIELDS[name].metadata["before"])
        if choices is not None and value not in choices:
            raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
        step[name] = value
    costs = check_costs(c.costs.cost, c.costs.cost_weight, c.costs.budget, c.costs.cost_size)
    if costs["budget"] is not None and c.selection.select != ARGMAX:
        raise ValueError(f"--budget constrains the argmax architecture; drop --select {c.selection.select} or --budget")
    check_device(c.runtime.device)
    check_out_dir(c.runtime.out_dir)
    check_stages(list(stages))
    cells = c.supernet.cells_per_stage
    resolved = c.replace(
        epochs=sum(st["epochs"] for st in stages),
        warmup_epochs=stages[0]["warmup_epochs"] if len(stages) == 1 else None,  # multi-stage: per stage
        progressive=False,
        partial_channels=None,
        stages=stages,
        cells_per_stage=cells if cells is not None else demo.get("cells_per_stage", space.default_cells_per_stage),
        weight_decay=protocol.get("weight_decay", 3e-4) if optim["weight_decay"] is None else optim["weight_decay"],
        **arch,
        **{k: v for k, v in optim.items() if k != "weight_decay"},
        channels=c.supernet.channels if c.supernet.channels is not None else demo.get("channels", DEFAULT_CHANNELS),
        benchmark=None if benchmark is None else str(benchmark),
        method_options=dict(c.method_options or {}),
        **step,
        **costs,
    )
    check_limits(resolved, SEARCH_LIMITS, "search")
    return resolved


def _once(name: str, flag: str, given: Any, in_args: Any, args_flag: str, default: Any = None) -> Any:
    """A rate given as its own setting or inside an optimizer's arguments; one-line error when both disagree."""
    if in_args is None:
        return given
    if given is not None and given != default and given != in_args:
        raise ValueError(f"{name} ({flag}) = {given} and {in_args} in {args_flag} disagree; give the rate once")
    return in_args


def _resolve_arch(c: SearchConfig, protocol: Mapping, demo: Mapping) -> dict:
    """The architecture optimizer's fields: its name, rate, weight decay and remaining arguments, checked."""
    own_optim = protocol.get("arch_optim", "adam")
    arch_optim = own_optim if c.arch.arch_optim is None else c.arch.arch_optim
    args = dict(c.arch.arch_optim_args or {})
    if not isinstance(arch_optim, str):
        if args:
            raise ValueError("arch_optim_args need an optimizer given by name; pass them to the optimizer object")
        return dict(arch_optim=arch_optim, arch_lr=c.arch.arch_lr, arch_weight_decay=c.arch.arch_weight_decay)
    if arch_optim not in _arch_optims():
        raise ValueError(f"unknown architecture optimizer {arch_optim!r}; choose one of: {', '.join(_arch_optims())}")
    lr = _once("arch_lr", "--arch-lr", c.arch.arch_lr, args.pop("lr", None), "--optim-args")
    decay = c.arch.arch_weight_decay
    if arch_optim != "ngvi":  # NGVI takes no weight decay (its prior is the model's): its check refuses one
        decay = _once("arch_weight_decay", "--arch-weight-decay", decay, args.pop("weight_decay", None), "--optim-args")
    if arch_optim in ARCH_LR:
        # the demo rescales the optimizer's generic default; a method whose protocol sets its own rate keeps it
        own_rate = arch_optim == own_optim and "arch_lr" in protocol
        demo_arch = demo.get("arch", {}).get(arch_optim, {}) if not own_rate else {}
        lr = lr if lr is not None else demo_arch.get("arch_lr")
        if lr is None:
            lr = protocol["arch_lr"] if own_rate else ARCH_LR[arch_optim]
        if decay is None:
            decay = demo_arch.get("arch_weight_decay", protocol.get("arch_weight_decay", 1e-3))
    else:  # a pyro.optim optimizer at its own defaults
        from pyronas.optim.named import optimizer_defaults

        defaults = optimizer_defaults(arch_optim)
        lr = lr if lr is not None else defaults.get("lr")
        decay = decay if decay is not None else defaults.get("weight_decay")
    from pyronas.optim.named import check_args

    if arch_optim == "ngvi":
        from pyronas.optim import NGVI

        NGVI({"lr": lr, **args})  # refuses an unknown or invalid option in one line
    elif arch_optim == "adam":
        import torch

        check_args("adam", {"lr": lr, "betas": (0.5, 0.999), "weight_decay": decay, **args}, torch.optim.Adam)
    else:
        from pyronas.optim.named import with_rates

        check_args(arch_optim, with_rates(arch_optim, lr, decay, args))
    return dict(arch_optim=arch_optim, arch_lr=lr, arch_weight_decay=decay, arch_optim_args=args)


def _resolve_weight_optim(c: SearchConfig) -> dict:
    """The weights' optimizer fields: the rate and weight decay moved out of its arguments, the rest checked."""
    name, args, w = c.weights.weight_optim, dict(c.weights.weight_optim_args or {}), c.weights
    if name is not None and not isinstance(name, str):
        if args:
            raise ValueError("weight_optim_args need an optimizer given by name; pass them to the optimizer object")
        return dict(weight_optim=name, weight_decay=w.weight_decay)
    if name is not None and name not in _pyro_optimizers():
        raise ValueError(f"unknown weight optimizer {name!r}; choose one of: {', '.join(_pyro_optimizers())}")
    default_lr = FIELDS["weight_lr"].default
    lr = _once("weight_lr", "--weight-lr", w.weight_lr, args.pop("lr", None), "--weight-optim-args", default_lr)
    decay = _once(
        "weight_decay", "--weight-decay", w.weight_decay, args.pop("weight_decay", None), "--weight-optim-args"
    )
    if name is not None or args:
        from pyronas.optim.named import SGD_DEFAULTS, check_args, with_rates

        base = SGD_DEFAULTS if name is None else {}
        check_args(name or "SGD", with_rates(name or "SGD", lr, decay or 0.0, args, base), what="--weight-optim-args")
    return dict(weight_optim=name, weight_lr=lr, weight_decay=decay, weight_optim_args=args)


def _check_elbo(elbo: Any, args: Mapping) -> None:
    """A named ELBO is known and takes ``args``; arguments need a named ELBO."""
    if not isinstance(elbo, str):
        if args:
            raise ValueError("elbo_args need an ELBO given by name; pass them to the ELBO object")
        return
    from pyronas.infer.elbos import make_elbo

    make_elbo(elbo, args)


def _check_guide(guide: Any, args: Mapping) -> None:
    """A named guide is an autoguide class; arguments need a guide class."""
    if args and (guide is None or not (isinstance(guide, (str, type)))):
        raise ValueError("guide_args (--guide-args) need a guide class (--guide), e.g. --guide AutoNormal")
    if isinstance(guide, str) and not guide.startswith(PYTHON_OBJECT):
        from pyronas.infer.adapted_guide import autoguide_class

        autoguide_class(guide)


def search_config(config: SearchConfig | Mapping | str | None = None, **overrides) -> SearchConfig:
    """A :class:`SearchConfig` from a config, a (nested or flat) mapping or a method name, with flat overrides."""
    if config is None:
        config = SearchConfig()
    elif isinstance(config, str):
        config = SearchConfig(method=config)
    elif isinstance(config, Mapping):
        config = SearchConfig.from_json({"version": VERSION, **config})
    if "stages" in overrides and overrides["stages"] is not None:
        overrides["stages"] = tuple(dataclasses.asdict(st) for st in as_stages(overrides["stages"]))
    return config.replace(**overrides)
