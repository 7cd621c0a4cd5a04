"""The Python API behind the CLI: one call runs a whole search and returns its result."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from pyro.infer import Trace_ELBO, TraceGraph_ELBO, TraceMeanField_ELBO

from pyronas.benchmarks import NB201Table
from pyronas.data import Batches, ImageData, load_dataset, split_halves
from pyronas.infer import DeviceTrace_ELBO, Search, seed_everything
from pyronas.infer.checkpoint import save_json
from pyronas.infer.distributed import join_world
from pyronas.infer.stages import Stage, scale_stages
from pyronas.optim import NGVI, arch_adam, weight_sgd
from pyronas.proxies import proxy_batch
from pyronas.registry import get_method
from pyronas.select import ARGMAX, VALID, parse_rule, select_by_validation, select_cell
from pyronas.spaces import SearchSpace, get_space

ARCH_OPTIMS = ("adam", "ngvi")
ARCH_LR = {"adam": 3e-4, "ngvi": 0.01}  # default architecture learning rate per optimizer


def arch_optimizer(name: str, lr: float, weight_decay: float, model) -> object:
    """The architecture optimizer ``name``: DARTS' Adam, or :class:`~pyronas.optim.NGVI` for Gaussian guides.

    NGVI's ``num_data`` is ``1 / kl_weight`` when the model weights its KL terms by a positive
    ``kl_weight`` attribute (see :func:`pyronas.infer.kl_weight`), so that ``num_data * loss`` is the
    full negative ELBO; otherwise 1. Weight decay applies to Adam only (NGVI's prior is the model's).
    """
    if name == "adam":
        return arch_adam(lr, weight_decay=weight_decay)
    if name == "ngvi":
        kl = float(getattr(model, "kl_weight", 1.0))
        return NGVI(lr=lr, num_data=1.0 / kl if kl > 0 else 1.0)
    raise ValueError(f"unknown architecture optimizer {name!r}; choose one of: {', '.join(ARCH_OPTIMS)}")


AMP_DTYPES = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}  # autocast dtypes of the fast path

ELBOS = {
    "trace": Trace_ELBO,
    "meanfield": TraceMeanField_ELBO,
    "tracegraph": TraceGraph_ELBO,
    "device": DeviceTrace_ELBO,  # Trace_ELBO for pathwise guides, without a host-device sync per step
}


@dataclass
class SearchResult:
    """What a search found; written as ``result.json``."""

    method: str
    space: str
    dataset: str
    seed: int
    epochs: int
    genotype: str
    op_probabilities: dict
    benchmark: dict | None
    seconds: float
    argmax_genotype: str | None = None  # the guide's argmax cell; equals ``genotype`` under select="argmax"
    argmax_benchmark: dict | None = None
    selection: dict | None = None  # selection among drawn cells: rule, samples, candidates, scores
    method_summary: dict | None = None  # the guide's ``summary()``, for guides that have one
    config: dict = field(default_factory=dict)
    history: list = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("history")
        return out


def named_probabilities(space, probs: dict[str, torch.Tensor]) -> dict:
    """``{cell: {edge: {op: p}}}`` from ``{cell: [E, K]}`` tensors."""
    return {
        cell: {
            edge: {op: round(float(v), 6) for op, v in zip(space.ops, row)} for edge, row in zip(space.edge_names, p)
        }
        for cell, p in probs.items()
    }


def _schedule(
    method: str,
    protocol: dict,
    epochs: int | None,
    warmup_epochs: int | None,
    progressive: bool,
    partial_channels: int | None,
    stages: Sequence[Stage | Mapping] | None,
) -> list[Stage] | None:
    """The search stages for ``progressive`` or explicit ``stages``, scaled to ``epochs``; ``None`` otherwise."""
    if sum([bool(progressive), partial_channels is not None, stages is not None]) > 1:
        raise ValueError("give only one of progressive, partial_channels and stages")
    if progressive and "stages" not in protocol:
        raise ValueError(f"method {method!r} has no progressive schedule; give stages=[...] or partial_channels")
    base = protocol["stages"] if progressive else stages
    return None if base is None else scale_stages(base, epochs, warmup_epochs)


def search(
    method: str = "drnas",
    space: str = "nb201",
    dataset: str = "digits",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    image_size: int | None = None,
    train_size: int | None = None,
    epochs: int | None = None,
    warmup_epochs: int | None = None,
    progressive: bool = False,
    partial_channels: int | None = None,
    stages: Sequence[Stage | Mapping] | None = None,
    batch_size: int = 64,
    seed: int = 0,
    channels: int = 16,
    cells_per_stage: int | None = None,
    weight_lr: float = 0.025,
    weight_lr_min: float = 0.001,
    weight_decay: float | None = None,
    grad_clip: float = 5.0,
    arch_optim: str | None = None,
    arch_lr: float | None = None,
    arch_weight_decay: float | None = None,
    elbo: str = "trace",
    benchmark: str | os.PathLike | None = None,
    device: str = "cpu",
    distributed: bool | None = None,
    channels_last: bool = False,
    amp: str | None = None,
    compile: bool = False,
    single_path: bool = False,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    method_options: dict | None = None,
    select: str = "argmax",
    samples: int = 100,
    select_batches: int = 10,
) -> SearchResult:
    """Run an architecture search with the NB201 bilevel protocol; defaults follow ``METHODS.md``.

    ``epochs``, ``weight_decay`` and ``arch_optim`` (``"adam"`` or ``"ngvi"``) default to the method's
    protocol, ``arch_lr`` and ``arch_weight_decay`` to the protocol's (``arch_lr`` only while the protocol's optimizer
    is used), else the optimizer's default and 1e-3, ``warmup_epochs`` to the protocol's share of ``epochs``,
    ``cells_per_stage`` to the space's ``default_cells_per_stage``; ``image_size`` resamples the images to
    ``image_size x image_size`` pixels (e.g. 16, the resolution of NB201's ImageNet16-120);
    ``benchmark`` (the NB201 table) needs nb201. With
    ``out_dir`` the search writes ``log.jsonl``, ``checkpoint.pt`` (each epoch) and
    ``result.json``; ``resume`` continues from the checkpoint there. ``select="proxy:NAME"`` (or
    ``"proxy:A+B"``, a rank-sum) draws ``samples`` cells from the learned distribution after the
    search and keeps the one the zero-cost proxy ranks best (BaLeNAS-TF, :mod:`pyronas.select`),
    scored on one un-augmented batch of the architecture half. ``select="valid"`` (posterior-guided
    sampling, PGNAS) keeps, among ``samples`` drawn cells, the one the trained supernet classifies
    best with the cell's one-hot weights on ``select_batches`` un-augmented batches of the architecture
    half, its BatchNorm statistics recomputed on as many batches of the weight half
    (:func:`pyronas.select.select_by_validation`).

    ``distributed`` (default: when launched by ``torchrun``) runs data-parallel over the processes of
    ``torch.distributed`` (:mod:`pyronas.infer.distributed`): each takes ``batch_size / P`` images of
    every global batch, gradients of weights and architecture are averaged, all ranks adopt rank 0's
    seed and initial parameters and return the same result; only rank 0 writes files and shows progress.
    ``device="cuda"`` then means each process's own GPU (``LOCAL_RANK``).

    Search stages (:mod:`pyronas.infer.stages`): ``progressive`` runs the method's schedule
    (``protocol["stages"]``; DrNAS: partial channels 4, prune to the top 3 ops, widen to 2), its stages and
    their warm-ups scaled to ``epochs`` (``warmup_epochs``, if given, is every stage's warm-up);
    ``stages`` gives a schedule explicitly (scaled the same way when ``epochs`` is given);
    ``partial_channels=K`` runs one stage with ``1/K`` of each edge's channels through its mixed op.

    Fast path (all off by default; results on CPU are then unchanged): ``channels_last`` batches,
    ``amp="bf16"`` (or ``"fp16"``) autocast of model and guide, ``compile`` (``torch.compile`` of the
    supernet, in place), ``elbo="device"`` (no host-device sync per step; the loss is checked once per
    epoch), ``single_path`` (each training forward computes one op per edge and cell, drawn in proportion
    to the mixing weights' magnitudes and reweighted so that the edge's output and gradient are unbiased,
    :mod:`pyronas.nn.single_path`; not with ``compile``). Data always live on ``device`` and are augmented there.
    """
    spec, search_space = get_method(method), get_space(space)
    schedule = _schedule(method, spec.protocol, epochs, warmup_epochs, progressive, partial_channels, stages)
    config, schedule = _search_config(
        spec.protocol,
        search_space,
        schedule,
        method=method,
        space=space,
        dataset=dataset,
        train_size=train_size,
        epochs=epochs,
        warmup_epochs=warmup_epochs,
        partial_channels=partial_channels,
        batch_size=batch_size,
        seed=seed,
        channels=channels,
        cells_per_stage=cells_per_stage,
        weight_lr=weight_lr,
        weight_lr_min=weight_lr_min,
        weight_decay=weight_decay,
        grad_clip=grad_clip,
        arch_optim=arch_optim,
        arch_lr=arch_lr,
        arch_weight_decay=arch_weight_decay,
        elbo=elbo,
        channels_last=channels_last,
        method_options=method_options,
        amp=amp,
        compile=compile,
        single_path=single_path,
        image_size=image_size,
    )
    if benchmark is not None and search_space.name != "nb201":
        raise ValueError(f"the NB201 table only looks up nb201 cells; drop --benchmark for --space {space}")
    parse_rule(select)  # fail before the search on a malformed rule
    if select == VALID and select_batches < 1:
        raise ValueError(f"select_batches must be >= 1, got {select_batches}")
    table = NB201Table(benchmark) if benchmark is not None else None
    world = join_world(distributed, device)  # rank 0 of 1 unless data-parallel
    device = world.device
    seed = config["seed"] = world.agree(seed)

    data = load_dataset(dataset, data_dir, download=download, image_size=image_size)
    weights_half, arch_half = split_halves(data, size=train_size)
    shard = dict(rank=world.rank, world_size=world.size, channels_last=channels_last)
    train = Batches(weights_half, batch_size, device=device, seed=seed, **shard)
    valid = Batches(arch_half, batch_size, device=device, seed=seed + 1, mean=train.mean, std=train.std, **shard)

    seed_everything(seed)
    supernet = search_space.supernet(
        channels=channels,
        cells_per_stage=config["cells_per_stage"],
        num_classes=data.num_classes,
        in_channels=data.in_channels,
    ).to(device)
    if single_path and not hasattr(type(supernet), "single_path"):
        raise ValueError(f"the {space} supernet cannot sample single paths; drop single_path (--single-path)")
    supernet.single_path = single_path
    if compile:
        supernet.compile()  # in place: parameter names, hence checkpoints, are unchanged
    model, guide = spec.build(supernet, search_space, **(method_options or {}))
    guide.to(device)
    world.broadcast_modules(model, guide)  # ranks start identical, whatever their seeds
    c = config
    runner = Search(
        model,
        guide,
        search_space,
        supernet,
        train,
        valid,
        weight_optim=world.wrap(
            weight_sgd(c["epochs"], weight_lr, weight_lr_min, weight_decay=c["weight_decay"], clip_norm=grad_clip)
        ),
        arch_optim=world.wrap(arch_optimizer(c["arch_optim"], c["arch_lr"], c["arch_weight_decay"], model)),
        loss=ELBOS[elbo](),
        epochs=c["epochs"],
        warmup_epochs=c["warmup_epochs"],
        stages=schedule,
        seed=seed,
        out_dir=out_dir,
        benchmark=table,
        config=config,
        progress=progress and world.is_main,
        write=world.is_main,
        amp=AMP_DTYPES[amp],
        average=world.average_ if world.distributed else None,
    )
    start = time.perf_counter()
    history = runner.run(resume=resume)
    seconds = sum(record["seconds"] for record in history) if history else time.perf_counter() - start
    argmax = runner.genotype()
    genotype, selection = argmax, None
    if select != ARGMAX:
        selection = _select_final(
            select,
            samples,
            select_batches,
            model,
            guide,
            supernet,
            search_space,
            config,
            train,
            arch_half,
            weights_half,
        )
        genotype = selection.pop("genotype")
    result = SearchResult(
        method=method,
        space=space,
        dataset=dataset,
        seed=seed,
        epochs=c["epochs"],
        genotype=genotype,
        op_probabilities=named_probabilities(search_space, runner.op_probabilities()),
        benchmark=None if table is None else table.query(genotype),
        seconds=seconds,
        argmax_genotype=argmax,
        argmax_benchmark=None if table is None else table.query(argmax),
        selection=selection,
        method_summary=guide.summary() if callable(getattr(guide, "summary", None)) else None,
        config=config,
        history=history,
    )
    if out_dir is not None and world.is_main:
        save_json(result.to_json(), Path(out_dir) / "result.json")
    return result


def _search_config(
    protocol: Mapping,
    search_space: SearchSpace,
    schedule: list[Stage] | None,
    *,
    epochs: int | None,
    warmup_epochs: int | None,
    partial_channels: int | None,
    cells_per_stage: int | None,
    weight_decay: float | None,
    arch_optim: str | None,
    arch_lr: float | None,
    arch_weight_decay: float | None,
    elbo: str,
    method_options: dict | None,
    amp: str | None,
    compile: bool,
    single_path: bool,
    image_size: int | None,
    **given,
) -> tuple[dict, list[Stage] | None]:
    """The search's settings as recorded in checkpoints and ``result.json``, and its stages.

    The arguments of :func:`search` with ``None`` filled in from the method's ``protocol`` and the
    space's defaults, validated; ``given`` (method, space, data and sizes, seed, ...) is recorded as is.
    """
    protocol_epochs = protocol.get("epochs", 50)
    epochs = protocol_epochs if epochs is None else epochs
    if warmup_epochs is None:  # keep the protocol's share of warm-up epochs
        warmup_epochs = round(protocol.get("warmup_epochs", 0) * epochs / protocol_epochs)
    if schedule is None and partial_channels is not None:
        schedule = [Stage(epochs, warmup_epochs, partial_channels)]
    if schedule is not None:
        epochs, warmup_epochs = sum(s.epochs for s in schedule), 0
    arch_optim = protocol.get("arch_optim", "adam") if arch_optim is None else arch_optim
    if arch_optim not in ARCH_OPTIMS:
        raise ValueError(f"unknown architecture optimizer {arch_optim!r}; choose one of: {', '.join(ARCH_OPTIMS)}")
    if arch_lr is None:
        own_optim = arch_optim == protocol.get("arch_optim", "adam")
        arch_lr = protocol["arch_lr"] if own_optim and "arch_lr" in protocol else ARCH_LR[arch_optim]
    if arch_weight_decay is None:
        arch_weight_decay = protocol.get("arch_weight_decay", 1e-3)
    if elbo not in ELBOS:
        raise ValueError(f"unknown ELBO {elbo!r}; choose one of: {', '.join(ELBOS)}")
    if amp not in AMP_DTYPES:
        raise ValueError(f"unknown amp {amp!r}; choose one of: {', '.join(k for k in AMP_DTYPES if k)} (or none)")
    if compile and single_path:
        raise ValueError("compile and single_path do not combine (every drawn path would be a new graph); drop one")
    config = {
        **given,
        "epochs": epochs,
        "warmup_epochs": warmup_epochs,
        "cells_per_stage": search_space.default_cells_per_stage if cells_per_stage is None else cells_per_stage,
        "weight_decay": protocol.get("weight_decay", 3e-4) if weight_decay is None else weight_decay,
        "arch_optim": arch_optim,
        "arch_lr": arch_lr,
        "arch_weight_decay": arch_weight_decay,
        "elbo": elbo,
        "method_options": dict(method_options or {}),
    }
    # recorded only when used, so that checkpoints written before these options existed still resume
    if schedule is not None:
        config["stages"] = [asdict(s) for s in schedule]
    if amp is not None or compile:
        config.update(amp=amp, compile=compile)
    if single_path:
        config["single_path"] = True
    if image_size is not None:
        config["image_size"] = image_size
    return config, schedule


def _select_final(
    rule: str,
    samples: int,
    select_batches: int,
    model: torch.nn.Module,
    guide: torch.nn.Module,
    supernet: torch.nn.Module,
    search_space: SearchSpace,
    config: Mapping,
    train: Batches,
    arch_half: ImageData,
    weights_half: ImageData,
) -> dict:
    """Pick the final cell among ``samples`` cells drawn from the guide by ``rule`` (``"valid"`` or
    ``"proxy:..."``), on un-augmented images of the architecture half normalised like ``train``.

    Returns :mod:`pyronas.select`'s record, with the pick under ``"genotype"``.
    """
    device, seed, batch_size = train.device, config["seed"], config["batch_size"]
    if rule == VALID:  # scored on the architecture half, BatchNorm recalibrated per cell on the weight half

        def plain(data: ImageData) -> list:
            shared = dict(mean=train.mean, std=train.std, device=device, channels_last=config["channels_last"])
            return list(itertools.islice(Batches(data, batch_size, augment=False, seed=seed, **shared), select_batches))

        batches, calibration = plain(arch_half), plain(weights_half)
        return select_by_validation(
            model, guide, search_space, supernet, samples, batches, seed=seed, calibration=calibration
        )
    images, labels = proxy_batch(arch_half, batch_size, seed=seed, mean=train.mean, std=train.std, device=device)
    return select_cell(
        model,
        guide,
        search_space,
        rule,
        samples,
        images,
        labels,
        seed=seed,
        channels=config["channels"],
        cells_per_stage=config["cells_per_stage"],
        num_classes=arch_half.num_classes,
    )
