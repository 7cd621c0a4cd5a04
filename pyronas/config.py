"""A search's settings: one flat namespace of frozen fields, each named once (``epochs``, ``arch_lr``).

Python keywords (``search(epochs=4)``), CLI flags (``--epochs``), config files, ``result.json`` and checkpoints
all use these names; a field's ``section`` groups ``--help`` only. Every value is checked against its field's
annotation when a config is made (:mod:`pyronas.config_types`); ``None`` means "resolve me", which
:func:`pyronas.config_resolve.resolve` does once, in layers. Reading and writing JSON (with the version-1 and
nested records of older runs) is :mod:`pyronas.config_json`. This module imports no torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

from pyronas import config_json
from pyronas.config_fields import method_names, option
from pyronas.config_types import check_fields
from pyronas.names import AMP_NAMES, ARCH_LR, CLIP_SPANS, COST_METRICS, DATASETS, DRAWS, STEP_ORDERS

__all__ = ["ARCH_LR", "BENCHMARK_ENV", "SearchConfig", "option", "search_config"]

VERSION = config_json.VERSION
BENCHMARK_ENV = "PYRONAS_NB201"
SECTIONS = ("method", "data", "supernet", "weights", "arch", "schedule", "runtime", "selection", "costs")
METHOD, DATA, SUPERNET, WEIGHTS, ARCH, SCHEDULE, RUNTIME, SELECTION, COSTS = (
    partial(option, section=name) for name in SECTIONS
)


@dataclass(frozen=True)
class SearchConfig(Mapping):
    """Everything a search needs, by flat name; ``None`` fields are filled by :func:`resolve`.

    A read-only mapping of its settings (``config["arch_lr"]``, ``dict(config)``) as well as a dataclass
    (``config.arch_lr``). ``guide`` (Python only) replaces the method's guide: a guide object, or a class called
    with the method's model with the supernet hidden (``pyro.infer.autoguide.AutoNormal``).
    """

    method: str = METHOD(
        "drnas", "search method (model+guide pair; `pyronas methods` lists them)", choices=method_names
    )
    space: Any = METHOD(
        "nb201",
        "search space: a registered name (nb201, darts, plugins), a package.module:factory path, or (Python) "
        "a SearchSpace or network factory",
    )
    method_options: dict = METHOD(
        help="method option, e.g. --option kl_weight=0.1 (repeatable)", flag="--option", factory=dict
    )
    guide: Any = METHOD(
        None,
        "a class of pyro.infer.autoguide replacing the method's guide, e.g. AutoNormal (Python: any guide "
        "object or class; default: the method's guide)",
    )
    guide_args: dict = METHOD(
        help="keyword arguments of the --guide class as a JSON object, e.g. '{\"init_scale\": 0.05}'",
        factory=dict,
        before={},
        json=True,
    )
    # data
    dataset: str = DATA("digits", "data set (digits is embedded, no download)", choices=DATASETS)
    data_dir: str | None = DATA(
        None, "data folder (cifar: torchvision root; folder: ImageFolder dir or zip)", trajectory=False
    )
    download: bool = DATA(False, "let torchvision download CIFAR into --data-dir", trajectory=False)
    image_size: int | None = DATA(None, "resample images to N x N pixels (default: as stored)")
    train_size: int | None = DATA(None, "images per half of the split (default: all)")
    batch_size: int = DATA(64, "images per step and half (the global batch when distributed)")
    valid_batches: str | None = DATA(
        None,
        "architecture batches: 'epoch' (one shuffled pass per epoch), 'random' (a fresh random batch every "
        "step) or 'random-replace' (every image drawn at random, with replacement) (default: the method's "
        "for the space, else epoch)",
        choices=DRAWS,
        before="epoch",
    )
    # supernet
    channels: int | None = SUPERNET(None, "C, channels of the first stage (default: 16; 8 on digits)")
    cells_per_stage: int | None = SUPERNET(
        None, "N, cells per stage (default: 1 on digits, else the space's: nb201 5, darts 2)"
    )
    channels_last: bool = SUPERNET(False, "feed the supernet channels-last batches (faster)", trajectory=False)
    single_path: bool = SUPERNET(False, "compute one sampled op per edge and cell in each training step (fast path)")
    compile: bool = SUPERNET(False, "torch.compile the supernet (fast path)", trajectory=False)
    # weights
    weight_lr: float = WEIGHTS(0.025, "supernet SGD learning rate (cosine to --weight-lr-min)")
    weight_lr_min: float = WEIGHTS(0.001, "final supernet learning rate")
    weight_decay: float | None = WEIGHTS(None, "supernet weight decay (default: the method's, else 3e-4)")
    grad_clip: float = WEIGHTS(5.0, "gradient norm clip of the supernet weights")
    grad_clip_span: str | None = WEIGHTS(
        None,
        "what the clipped norm spans: 'weights'; 'weights+arch' (also the architecture parameters' "
        "gradients of the training loss; only the weights are stepped); 'weights+arch-accumulated' (those "
        "gradients plus the last architecture step's, NB201's DARTS-V1) (default: the method's for the space, "
        "else weights)",
        choices=CLIP_SPANS,
        before="weights",
    )
    nesterov: bool | None = WEIGHTS(
        None, "Nesterov momentum in the supernet SGD (default: the method's for the space, else off)", before=False
    )
    weight_optim: Any = WEIGHTS(
        None,
        "weights' optimizer: a pyro.optim optimizer by name (e.g. Adam), under the --weight-lr cosine schedule and "
        "the --grad-clip norm clip, or (Python) a Pyro optimizer (default: SGD, momentum 0.9)",
    )
    weight_optim_args: dict = WEIGHTS(
        help="keyword arguments of the weights' optimizer as a JSON object, e.g. '{\"momentum\": 0.5}' (lr and "
        "weight_decay here replace --weight-lr and --weight-decay)",
        factory=dict,
        before={},
        json=True,
    )
    # arch
    arch_optim: Any = ARCH(
        None,
        "architecture optimizer: adam (DARTS' Adam, betas 0.5/0.999), ngvi (natural-gradient VI), any pyro.optim "
        "optimizer by name (e.g. ClippedAdam, at its own defaults), or (Python) a Pyro optimizer (default: the "
        "method's, else adam)",
        flag="--optim",
    )
    arch_optim_args: dict = ARCH(
        help='keyword arguments of the architecture optimizer as a JSON object, e.g. \'{"lr": 0.01, '
        '"clip_norm": 5}\' (lr and weight_decay here stand for --arch-lr and --arch-weight-decay)',
        flag="--optim-args",
        factory=dict,
        before={},
        json=True,
    )
    arch_lr: float | None = ARCH(None, "architecture learning rate (default: the method's, else 3e-4 adam, 0.01 ngvi)")
    arch_weight_decay: float | None = ARCH(
        None, "architecture weight decay, Adam only (default: the method's, else 1e-3)"
    )
    # schedule
    epochs: int | None = SCHEDULE(
        None,
        "epochs (default: the method's protocol, at most 20 on digits); with --resume, more than the run's extend it "
        "(added epochs go to the last stage; the epochs still to run take the weight-lr cosine of the new total)",
    )
    warmup_epochs: int | None = SCHEDULE(
        None,
        "weight-only epochs before architecture steps (default: the method's share of --epochs; "
        "with --progressive: of each search stage)",
    )
    progressive: bool = SCHEDULE(
        False,
        "the method's progressive schedule, scaled to --epochs (drnas: partial "
        "channels 4 with all ops, then the top-3 ops per edge at partial channels 2)",
    )
    partial_channels: int | None = SCHEDULE(
        None, "send 1/K of each edge's channels through its mixed op (PC-DARTS; default off)"
    )
    stages: tuple | None = SCHEDULE(None, "explicit stages: dicts of pyronas.infer.Stage fields", cli=False)
    step_order: str | None = SCHEDULE(
        None,
        "order of the two steps of an iteration: 'arch-first' (original DARTS, DrNAS) or 'weights-first' "
        "(NB201's DARTS-V1) (default: the method's for the space, else arch-first)",
        choices=STEP_ORDERS,
        before="arch-first",
    )
    # runtime
    seed: int = RUNTIME(0, "seed of the split, the batches and the initialisation")
    elbo: Any = RUNTIME(
        "trace",
        "Pyro ELBO: trace, meanfield, tracegraph, device, or any pyro.infer ELBO by class name, e.g. RenyiELBO "
        "(Python: or an ELBO instance)",
    )
    elbo_args: dict = RUNTIME(
        help="keyword arguments of the ELBO as a JSON object, e.g. '{\"alpha\": 0.5}' for RenyiELBO",
        factory=dict,
        before={},
        json=True,
    )
    amp: str | None = RUNTIME(None, "autocast dtype (fast path, GPU; default off)", choices=AMP_NAMES)
    device: str = RUNTIME("cpu", "torch device, e.g. cpu or cuda", trajectory=False)
    distributed: bool | None = RUNTIME(
        None, "data-parallel over the processes of torchrun (default: on when launched by torchrun)", trajectory=False
    )
    benchmark: str | None = RUNTIME(
        None, f"NB201 table (nb201_accuracy.csv; default: ${BENCHMARK_ENV} on nb201)", trajectory=False
    )
    out_dir: str | None = RUNTIME(
        None,
        "output folder for log, checkpoint and result.json",
        flag="--out",
        trajectory=False,
        cli_default="runs/search",
    )
    resume: bool = RUNTIME(
        False,
        "continue the run in OUT from its checkpoint.pt, with the run's settings (a setting given that would change "
        "the run is refused; a larger --epochs extends it)",
        trajectory=False,
    )
    overwrite: bool = RUNTIME(
        False, "start afresh in an OUT holding a previous run (its files move to OUT/previous-<time>)", trajectory=False
    )
    progress: bool = RUNTIME(True, "no progress bar and no per-epoch lines", flag="--quiet", trajectory=False)
    tensorboard: bool = RUNTIME(False, "also log to OUT/tensorboard (needs the tensorboard package)", trajectory=False)
    # selection
    select: str = SELECTION(
        "argmax",
        "final cell: the guide's argmax, 'proxy:NAME' / 'proxy:A+B' among --samples drawn "
        "cells, or 'valid' (PGNAS: --select valid --samples 1500)",
        trajectory=False,
    )
    samples: int = SELECTION(100, "cells drawn for --select proxy:... / valid", trajectory=False)
    select_batches: int = SELECTION(10, "held-out batches that score each cell under --select valid", trajectory=False)
    # costs
    cost: str | None = COSTS(
        None,
        "cost-aware search: a prior p(a) ~ exp(-cost_weight * cost(a)) on the architecture, by parameters, "
        "FLOPs per image or latency (ms per image, measured once on --device and cached) (default: none)",
        choices=COST_METRICS,
        before=None,
    )
    cost_weight: float | None = COSTS(
        None,
        "lambda >= 0 of the cost prior, in loss nats per cost span: the costliest architecture of the space "
        "(at the search's size) is exp(-lambda) times as probable a priori as the cheapest; with --budget it "
        "weighs the expected cost above the budget only (default: 1 with --cost)",
        before=None,
    )
    budget: Any = COSTS(
        None,
        "the most the derived architecture may cost: parameters as 0.5M or 500k, FLOPs per image as 20M or "
        "1.5G, latency as 5ms; needs --cost (default: none)",
        before=None,
    )
    cost_size: dict = COSTS(
        help="the standalone network whose costs are counted, as a JSON object of channels, cells_per_stage and "
        'image_size, e.g. \'{"channels": 16, "cells_per_stage": 5, "image_size": 32}\' to search a small '
        "supernet under the budget of NB201's full-size network (default: the search's own size; a network of "
        "your own takes image_size only)",
        factory=dict,
        before={},
        json=True,
    )

    def __post_init__(self) -> None:
        check_fields(self, "search")

    def __getitem__(self, name: str) -> Any:
        if name not in FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(FIELDS)

    def __len__(self) -> int:
        return len(FIELDS)

    def replace(self, **flat) -> SearchConfig:
        """A copy with settings replaced by name; one-line error for an unknown name or a wrongly-typed value."""
        unknown = sorted(set(flat) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown search setting(s) {', '.join(unknown)}; see pyronas search --help")
        return dataclasses.replace(self, **flat)

    def to_json(self) -> dict:
        """``{"version": 2, <every setting>}``; Python objects are named by their class (``"python:module.Class"``)."""
        return config_json.to_json(self)

    @classmethod
    def from_json(cls, record: Mapping) -> SearchConfig:
        """Read :meth:`to_json`'s output, a nested one (a mapping per section) or a version-1 record."""
        return cls().replace(**config_json.read_record(record, FIELDS))

    def resume_key(self) -> dict:
        """The settings that change a search's trajectory (a resumed search must match them), normalised."""
        return config_json.resume_key(self, FIELDS)


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in fields(SearchConfig)}


def search_config(config: SearchConfig | Mapping | str | None = None, **overrides) -> SearchConfig:
    """A :class:`SearchConfig` from a config, a (flat or nested) mapping or a method name, with flat overrides."""
    if config is None:
        config = SearchConfig()
    elif isinstance(config, str):
        config = SearchConfig(method=config)
    elif not isinstance(config, SearchConfig):
        config = SearchConfig.from_json({"version": VERSION, **config})
    if overrides.get("stages") is not None:
        overrides["stages"] = config_json.stage_dicts(overrides["stages"])
    return config.replace(**overrides)


def __getattr__(name: str) -> Any:
    """``resolve``, ``space_protocol`` and ``DATASET_DEFAULTS`` live in :mod:`pyronas.config_resolve` (read lazily:
    it reads this schema)."""
    if name in ("resolve", "space_protocol", "DATASET_DEFAULTS"):
        from pyronas import config_resolve

        return getattr(config_resolve, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
