"""The Python API behind the CLI: one call runs a whole search and returns its result."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from pyro.infer import Trace_ELBO, TraceGraph_ELBO, TraceMeanField_ELBO

from pyronas.benchmarks import NB201Table
from pyronas.data import Batches, load_dataset, split_halves
from pyronas.infer import Search, seed_everything
from pyronas.optim import NGVI, arch_adam, weight_sgd
from pyronas.proxies import proxy_batch
from pyronas.registry import get_method
from pyronas.select import ARGMAX, parse_rule, select_cell
from pyronas.spaces import get_space

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


ELBOS = {
    "trace": Trace_ELBO,
    "meanfield": TraceMeanField_ELBO,
    "tracegraph": TraceGraph_ELBO,
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
    selection: dict | None = None  # training-free selection: rule, samples, candidates, scores
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


def search(
    method: str = "drnas",
    space: str = "nb201",
    dataset: str = "digits",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    train_size: int | None = None,
    epochs: int | None = None,
    warmup_epochs: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    channels: int = 16,
    cells_per_stage: int = 5,
    weight_lr: float = 0.025,
    weight_lr_min: float = 0.001,
    weight_decay: float | None = None,
    grad_clip: float = 5.0,
    arch_optim: str | None = None,
    arch_lr: float | None = None,
    arch_weight_decay: float = 1e-3,
    elbo: str = "trace",
    benchmark: str | os.PathLike | None = None,
    device: str = "cpu",
    channels_last: bool = False,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    method_options: dict | None = None,
    select: str = "argmax",
    samples: int = 100,
) -> SearchResult:
    """Run an architecture search with the NB201 bilevel protocol; defaults follow ``METHODS.md``.

    ``epochs``, ``weight_decay`` and ``arch_optim`` (``"adam"`` or ``"ngvi"``) default to the method's
    protocol, ``arch_lr`` to the optimizer's default, ``warmup_epochs`` to the protocol's share of ``epochs``. With
    ``out_dir`` the search writes ``log.jsonl``, ``checkpoint.pt`` (each epoch) and
    ``result.json``; ``resume`` continues from the checkpoint there. ``select="proxy:NAME"`` (or
    ``"proxy:A+B"``, a rank-sum) draws ``samples`` cells from the learned distribution after the
    search and keeps the one the zero-cost proxy ranks best (BaLeNAS-TF, :mod:`pyronas.select`),
    scored on one un-augmented batch of the architecture half.
    """
    spec = get_method(method)
    protocol = spec.protocol
    protocol_epochs = protocol.get("epochs", 50)
    epochs = protocol_epochs if epochs is None else epochs
    if warmup_epochs is None:  # keep the protocol's share of warm-up epochs
        warmup_epochs = round(protocol.get("warmup_epochs", 0) * epochs / protocol_epochs)
    weight_decay = protocol.get("weight_decay", 3e-4) if weight_decay is None else weight_decay
    arch_optim = protocol.get("arch_optim", "adam") if arch_optim is None else arch_optim
    if arch_optim not in ARCH_OPTIMS:
        raise ValueError(f"unknown architecture optimizer {arch_optim!r}; choose one of: {', '.join(ARCH_OPTIMS)}")
    arch_lr = ARCH_LR[arch_optim] if arch_lr is None else arch_lr
    if elbo not in ELBOS:
        raise ValueError(f"unknown ELBO {elbo!r}; choose one of: {', '.join(ELBOS)}")
    search_space = get_space(space)
    parse_rule(select)  # fail before the search on a malformed rule
    table = NB201Table(benchmark) if benchmark is not None else None
    config = {
        "method": method,
        "space": space,
        "dataset": dataset,
        "train_size": train_size,
        "epochs": epochs,
        "warmup_epochs": warmup_epochs,
        "batch_size": batch_size,
        "seed": seed,
        "channels": channels,
        "cells_per_stage": cells_per_stage,
        "weight_lr": weight_lr,
        "weight_lr_min": weight_lr_min,
        "weight_decay": weight_decay,
        "grad_clip": grad_clip,
        "arch_optim": arch_optim,
        "arch_lr": arch_lr,
        "arch_weight_decay": arch_weight_decay,
        "elbo": elbo,
        "channels_last": channels_last,
        "method_options": dict(method_options or {}),
    }

    data = load_dataset(dataset, data_dir, download=download)
    weights_half, arch_half = split_halves(data, size=train_size)
    train = Batches(weights_half, batch_size, device=device, seed=seed, channels_last=channels_last)
    valid = Batches(
        arch_half, batch_size, device=device, seed=seed + 1, mean=train.mean, std=train.std, channels_last=channels_last
    )

    seed_everything(seed)
    supernet = search_space.supernet(
        channels=channels, cells_per_stage=cells_per_stage, num_classes=data.num_classes, in_channels=data.in_channels
    ).to(device)
    model, guide = spec.build(supernet, search_space, **(method_options or {}))
    guide.to(device)
    runner = Search(
        model,
        guide,
        search_space,
        supernet,
        train,
        valid,
        weight_optim=weight_sgd(epochs, weight_lr, weight_lr_min, weight_decay=weight_decay, clip_norm=grad_clip),
        arch_optim=arch_optimizer(arch_optim, arch_lr, arch_weight_decay, model),
        loss=ELBOS[elbo](),
        epochs=epochs,
        warmup_epochs=warmup_epochs,
        seed=seed,
        out_dir=out_dir,
        benchmark=table,
        config=config,
        progress=progress,
    )
    start = time.perf_counter()
    history = runner.run(resume=resume)
    seconds = sum(record["seconds"] for record in history) if history else time.perf_counter() - start
    genotype = argmax = runner.genotype()
    selection = None
    if select != ARGMAX:
        images, labels = proxy_batch(arch_half, batch_size, seed=seed, mean=train.mean, std=train.std, device=device)
        selection = select_cell(
            model,
            guide,
            search_space,
            select,
            samples,
            images,
            labels,
            seed=seed,
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=data.num_classes,
        )
        genotype = selection.pop("genotype")
    result = SearchResult(
        method=method,
        space=space,
        dataset=dataset,
        seed=seed,
        epochs=epochs,
        genotype=genotype,
        op_probabilities=named_probabilities(search_space, runner.op_probabilities()),
        benchmark=None if table is None else table.query(genotype),
        seconds=seconds,
        argmax_genotype=argmax,
        argmax_benchmark=None if table is None else table.query(argmax),
        selection=selection,
        config=config,
        history=history,
    )
    if out_dir is not None:
        path = Path(out_dir) / "result.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
    return result
