"""Evaluation training: train the standalone network of a found cell from scratch (the DARTS recipe).

SGD with momentum, learning rate on a cosine from ``lr`` to 0 over ``epochs`` (set per epoch),
weight decay, gradient clipping, cutout on top of the crop-and-flip batch augmentation, drop-path
with a probability ramped linearly from 0 to ``drop_path`` over the epochs, and an auxiliary
classifier whose loss is added with weight ``auxiliary_weight``. Defaults are those of [1] for
CIFAR-10 (600 epochs, batch 96, C=36, 20 cells, cutout 16, drop-path 0.2, auxiliary 0.4), resolved per space
(NB201's own recipe; no drop-path or auxiliary head where the network has none) and data set
(:func:`pyronas.train_config.resolve`); data without a test split are tested on a seeded held-out share.

With ``out_dir`` the run writes ``log.jsonl`` (one record per epoch), ``checkpoint.pt`` (atomic,
after every epoch) and ``result.json``; ``resume`` continues from the checkpoint with the run's settings
(:mod:`pyronas.run_settings`) and, as each epoch's shuffling, augmentation and drop-path draws depend only on
``(seed, epoch)``, repeats an uninterrupted run. A larger ``epochs`` extends the run: the epochs still to run
take the learning rate and drop-path probability of the new total's schedule.

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from pyronas.data import Batches, DataError, ImageData, load_dataset, load_test_split
from pyronas.data.cutout import cutout as cut_out
from pyronas.infer import seed_everything
from pyronas.infer.claim import claim
from pyronas.infer.rundir import RunDir, epoch_line, interrupted, kept, progress_bar
from pyronas.nn.export import torch_only
from pyronas.optim.respan import cosine_rate
from pyronas.run_settings import TRAINING, Continuation, continue_training, given_settings, stored_run
from pyronas.spaces import ModuleSpace, SearchSpace, get_space
from pyronas.train_config import TrainConfig, default_cutout, infer_space, resolve

AUXILIARY_PREFIX = "auxiliary"  # parameters of the auxiliary head, left out of the parameter count


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """What an evaluation training produced; written as ``result.json``."""

    genotype: str
    space: str
    dataset: str
    seed: int
    epochs: int  # epochs completed (fewer than configured when ``max_steps`` stopped the run)
    steps: int  # optimizer steps taken in this call
    params: int  # parameters of the network without the auxiliary head
    test_acc: float | None  # accuracy (%) after the last epoch run on the test split, or on the held-out images
    seconds: float
    config: dict = field(default_factory=dict)
    history: list = field(default_factory=list, repr=False)
    test_split: str = "test"  # what test_acc was measured on: "test", or the held-out share of the training images
    extended: list | None = None  # the run's extensions to more epochs (:mod:`pyronas.run_settings`)

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("history")
        return out


def count_parameters(net: nn.Module) -> int:
    """Parameters of ``net`` without its auxiliary head (the count papers report)."""
    return sum(p.numel() for name, p in net.named_parameters() if not name.startswith(AUXILIARY_PREFIX))


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch`` (0-based) on a cosine from ``lr`` at epoch 0 towards 0 at ``epochs``."""
    return cosine_rate(lr, epoch, epochs)


def _subset(data: ImageData, size: int | None, seed: int) -> ImageData:
    if size is None or size >= len(data):
        return data
    if size < 1:
        raise ValueError(f"subset sizes must be >= 1, got {size}")
    return data.subset(torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:size])


@torch.no_grad()
def evaluate(net: nn.Module, data: ImageData, batches: Batches, batch_size: int) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy %)`` of ``net`` in eval mode on all of ``data``, normalised like ``batches``."""
    net.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(data), batch_size):
        images = data.images[i : i + batch_size].to(batches.device).float().div_(255)
        labels = data.labels[i : i + batch_size].to(batches.device)
        logits = net((images - batches.mean) / batches.std)
        loss += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(-1) == labels).sum().item()
    return loss / len(data), 100.0 * correct / len(data)


def _network_options(space, drop_path: float, auxiliary_weight: float) -> dict:
    """Keywords for ``space.network``: drop-path and the auxiliary head, if the space's network has them
    (:func:`~pyronas.train_config.resolve` has refused values for those it has not)."""
    accepted = inspect.signature(space.network).parameters
    wanted = {"drop_path": drop_path, "auxiliary": auxiliary_weight > 0}
    return {k: v for k, v in wanted.items() if k in accepted}


def held_out_split(data: ImageData, share: float, seed: int) -> tuple[ImageData, ImageData]:
    """``(training, held out)``: a seeded random ``share`` of ``data`` to test on, for data without a test split."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    held = max(1, round(share * len(data)))
    return data.subset(order[held:]), data.subset(order[:held])


def train(
    config: TrainConfig | str | None = None, space: str | None = None, dataset: str | None = None, **overrides
) -> TrainResult:
    """Train the evaluation network of a cell from scratch (or fine-tune a search's found network); settings
    and defaults: :class:`TrainConfig` ([1]).

    ``config`` is a :class:`~pyronas.train_config.TrainConfig` or the genotype (a cell of ``space``);
    ``overrides`` replace its fields by name. ``from_run`` takes the cell of a search folder (:func:`from_run`);
    ``inherit_weights`` then starts from its supernet's weights (:meth:`pyronas.diagnostics.SearchRun.network`).
    ``train_size`` / ``test_size`` keep a seeded random subset of
    the training / test split (for short runs). The test split is CIFAR's, or for ``folder`` data the
    sibling whose name has ``train`` replaced by ``test`` (``cifar10-train-jpeg.zip`` ->
    ``cifar10-test-jpeg.zip``); without one (``digits``) a seeded ``held_out`` share of the training images is
    held out to test on (:attr:`TrainResult.test_split` says which). ``image_size`` resamples both splits.
    ``space`` defaults to the genotype's form (:func:`~pyronas.train_config.infer_space`).
    ``max_steps`` stops this call after that many optimizer steps (a smoke run); a partly run epoch is
    evaluated and logged (``"partial": true``) but not checkpointed, so ``resume`` runs it again in full.
    An ``out_dir`` holding a previous run is refused unless ``resume`` or ``overwrite`` is given
    (:func:`pyronas.infer.claim.claim`); ``train(out_dir=RUN, resume=True)`` continues a run with its own
    settings, refusing a given one that would change it, and a larger ``epochs`` extends it.
    """
    c = config if isinstance(config, TrainConfig) else TrainConfig(genotype=config)
    given = {k: v for k, v in dict(space=space, dataset=dataset).items() if v is not None}
    given = {**given_settings(c, TrainConfig()), **given, **overrides}
    c = c.replace(**given)
    run = stored_run(c.out_dir, TRAINING) if c.resume and not c.overwrite else None
    continuation = None
    if run is None:
        c = resolved(c)
    else:  # the run's settings, with those given on top
        c, continuation = continue_training(run, given)
    search_space = get_space(c.space)
    net_options = _network_options(search_space, c.drop_path, c.auxiliary_weight)
    with claim(c.out_dir, "training", resume=c.resume, overwrite=c.overwrite):
        return _train(c, search_space, net_options, continuation)


def resolved(c: TrainConfig) -> TrainConfig:
    """``c`` checked, with the cell of its ``from_run`` folder, its space (given, else read from the genotype's form),
    the genotype in the space's canonical form and its recipe's defaults (:func:`~pyronas.train_config.resolve`);
    only the cutout waits for the image size."""
    c = from_run(c.check()).check()
    c = c if c.space is not None else c.replace(space=infer_space(c.genotype))
    search_space = get_space(c.space)
    return resolve(c.replace(genotype=search_space.validate(c.genotype)), search_space.network)


def from_run(c: TrainConfig) -> TrainConfig:
    """``c`` with the cell (genotype, space) of its search folder ``from_run``, if any; with ``inherit_weights``
    also the supernet's channels and cells per stage. ``ValueError`` if ``from_run`` is not a search folder."""
    if c.from_run is None:
        return c
    from pyronas.diagnostics import load_run
    from pyronas.found import run_genotype

    run = load_run(c.from_run)
    found = {"genotype": run_genotype(run.path, run.genotype()), "space": run.space.name}
    if c.inherit_weights:
        found.update(channels=int(run.config["channels"]), cells_per_stage=int(run.config["cells_per_stage"]))
    return c.replace(**found)


def _network(c: TrainConfig, search_space: SearchSpace, data: ImageData, net_options: dict) -> nn.Module:
    """The network to train: fresh, or with ``inherit_weights`` the search supernet's weights of the cell.

    A network of your own (:class:`~pyronas.spaces.ModuleSpace`) is traced to what runs
    (:func:`~pyronas.nn.export.torch_only`): the candidates its choices did not pick are neither trained nor counted.
    """
    net = _cell_network(c, search_space, data, net_options)
    return torch_only(net) if isinstance(search_space, ModuleSpace) else net


def _cell_network(c: TrainConfig, search_space: SearchSpace, data: ImageData, net_options: dict) -> nn.Module:
    if not c.inherit_weights:
        sizes = dict(channels=c.channels, cells_per_stage=c.cells_per_stage)
        sizes.update(num_classes=data.num_classes, in_channels=data.in_channels)
        return search_space.network(c.genotype, **sizes, **net_options)
    from pyronas.diagnostics import load_run
    from pyronas.found import training_half

    run = load_run(c.from_run)
    searched = training_half(run.config)
    if (searched.num_classes, searched.in_channels) != (data.num_classes, data.in_channels):
        raise ValueError(f"the search in {c.from_run} ran on {searched.num_classes} classes of {searched.in_channels}-"
                         f"channel images, {c.dataset} has {data.num_classes} of {data.in_channels}-channel images; "
                         "inherit weights only for the search's classes")  # fmt: skip
    return run.network(genotype=c.genotype, plain=False, **net_options)


def _train(
    c: TrainConfig, search_space: SearchSpace, net_options: dict, continuation: Continuation | None = None
) -> TrainResult:
    """The body of :func:`train` for a checked config, in its claimed output folder."""
    data = load_dataset(c.dataset, c.data_dir, download=c.download, image_size=c.image_size)
    test = load_test_split(c.dataset, c.data_dir, download=c.download, image_size=c.image_size)
    if test is not None and test.classes != data.classes:
        raise DataError(f"the test split of {c.dataset} has other classes than its training split")
    split = "test"
    if test is None:
        data, test = held_out_split(data, c.held_out, c.seed)
        split = f"held out: {len(test)} of the {len(data) + len(test)} training images (seed {c.seed})"
    data = _subset(data, c.train_size, c.seed)
    c = c.replace(cutout=default_cutout(c, data.images.shape[-1]))
    test = None if test is None else _subset(test, c.test_size, c.seed)
    batches = Batches(data, min(c.batch_size, len(data)), device=c.device, seed=c.seed)

    seed_everything(c.seed)
    net = _network(c, search_space, data, net_options).to(c.device)
    optimizer = torch.optim.SGD(net.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
    run = RunDir(
        c.out_dir, "training", config=c.to_json(), resume_key=c.resume_key(),
        read_key=lambda stored: TrainConfig.from_json(stored).resume_key(), overwrite=c.overwrite,
        extends=None if continuation is None else continuation.resume_key,
        extended=None if continuation is None else continuation.extended,
    )  # fmt: skip
    history: list[dict] = []
    if c.resume:
        state = run.load()
        net.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        history = list(state["history"])
    saved = len(history)  # epochs in the checkpoint on disk

    steps, last, start = 0, (history[-1] if history else {}), time.perf_counter()
    bar = progress_bar(c.epochs * len(batches), len(history) * len(batches), "train", c.progress)
    try:
        run.start(history)
        for epoch in range(len(history), c.epochs):
            budget = None if c.max_steps is None else c.max_steps - steps
            record = last = _epoch(net, optimizer, batches, test, epoch, c, bar, max_steps=budget)
            steps += record["steps"]
            if c.progress:
                bar.write(epoch_line(record, c.epochs))
            if record["partial"]:
                run.log(record)
                break
            history.append(record)
            state = {"epoch": epoch + 1, "network": net.state_dict(), "optimizer": optimizer.state_dict()}
            run.log(record, {**state, "history": history})
            saved = len(history)
            if c.max_steps is not None and steps >= c.max_steps:
                break
    except TrainingDiverged as e:
        raise TrainingDiverged(f"{e} ({kept(saved, c.out_dir)})") from None
    except KeyboardInterrupt as e:
        if type(e) is not KeyboardInterrupt:
            raise
        raise interrupted("training", saved, c.out_dir) from None
    finally:
        bar.close()
    result = TrainResult(
        genotype=c.genotype,
        space=c.space,
        dataset=c.dataset,
        seed=c.seed,
        epochs=len(history),
        steps=steps,
        params=count_parameters(net),
        test_acc=last.get("test_acc"),
        seconds=time.perf_counter() - start,
        config=c.to_json(),
        history=history,
        test_split=split,
        extended=run.extended or None,
    )
    run.result(result.to_json())
    return result


def _epoch(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Batches,
    test: ImageData | None,
    epoch: int,
    config: TrainConfig,
    bar,
    *,
    max_steps: int | None,
) -> dict:
    """Train one epoch (or its first ``max_steps`` steps) and evaluate; returns the log record."""
    epochs = config["epochs"]
    seed_everything(config["seed"] * 10_007 + epoch)  # drop-path masks
    batches.set_epoch(epoch)
    holes = torch.Generator(device=batches.device).manual_seed(config["seed"] * 10_007 + epoch + 1)  # cutout
    lr = cosine_lr(config["lr"], epoch, epochs)
    for group in optimizer.param_groups:
        group["lr"] = lr
    drop_prob = config["drop_path"] * epoch / epochs
    if hasattr(net, "drop_path"):
        net.drop_path = drop_prob
    net.train()
    total_loss, correct, seen, steps = 0.0, 0, 0, 0
    start = time.perf_counter()
    bar.set_description(f"train {epoch + 1}/{epochs}")
    for images, labels in batches:
        if max_steps is not None and steps >= max_steps:
            break
        images = cut_out(images, config["cutout"], holes)
        out = net(images)
        logits, aux_logits = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits, labels)
        if aux_logits is not None:
            loss = loss + config["auxiliary_weight"] * F.cross_entropy(aux_logits, labels)
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(f"the training diverged in epoch {epoch + 1}: the loss became {value}; lower --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config["grad_clip"] is not None:
            nn.utils.clip_grad_norm_(net.parameters(), config["grad_clip"])
        optimizer.step()
        total_loss += value * len(labels)
        correct += (logits.argmax(-1) == labels).sum().item()
        seen += len(labels)
        steps += 1
        bar.update(1)
    test_loss, test_acc = (None, None) if test is None else evaluate(net, test, batches, batches.batch_size)
    record = {
        "epoch": epoch + 1,
        "lr": lr,
        "drop_path": drop_prob,
        "train_loss": total_loss / max(1, seen),
        "train_acc": 100.0 * correct / max(1, seen),
        "test_loss": test_loss,
        "test_acc": test_acc,
        "steps": steps,
        "partial": steps < len(batches),
        "seconds": time.perf_counter() - start,
    }
    bar.set_postfix(loss=f"{record['train_loss']:.3f}", acc=f"{record['train_acc']:.1f}")
    return record
