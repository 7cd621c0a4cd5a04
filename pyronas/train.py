"""Evaluation training: train the standalone network of a found cell from scratch (the DARTS recipe).

SGD with momentum, learning rate on a cosine from ``lr`` to 0 over ``epochs`` (set per epoch),
weight decay, gradient clipping, cutout on top of the crop-and-flip batch augmentation, drop-path
with a probability ramped linearly from 0 to ``drop_path`` over the epochs, and an auxiliary
classifier whose loss is added with weight ``auxiliary_weight``. Defaults are those of [1] for
CIFAR-10 (600 epochs, batch 96, C=36, 20 cells, cutout 16, drop-path 0.2, auxiliary 0.4).

With ``out_dir`` the run writes ``log.jsonl`` (one record per epoch), ``checkpoint.pt`` (atomic,
after every epoch) and ``result.json``; ``resume`` continues from the checkpoint and, as each
epoch's shuffling, augmentation and drop-path draws depend only on ``(seed, epoch)``, repeats an
uninterrupted run.

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from pyronas.data import Batches, DataError, ImageData, load_dataset, load_test_split
from pyronas.data.cutout import cutout as cut_out
from pyronas.infer import seed_everything
from pyronas.infer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, save_json
from pyronas.spaces import get_space

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
RESULT = "result.json"
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
    test_acc: float | None  # accuracy (%) on the test split after the last epoch run, if it has one
    seconds: float
    config: dict = field(default_factory=dict)
    history: list = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("history")
        return out


def count_parameters(net: nn.Module) -> int:
    """Parameters of ``net`` without its auxiliary head (the count papers report)."""
    return sum(p.numel() for name, p in net.named_parameters() if not name.startswith(AUXILIARY_PREFIX))


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch`` (0-based) on a cosine from ``lr`` at epoch 0 towards 0 at ``epochs``."""
    return 0.5 * lr * (1.0 + math.cos(math.pi * epoch / epochs))


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


def _check_options(**values) -> None:
    limits = {
        "epochs": values["epochs"] >= 1,
        "batch_size": values["batch_size"] >= 1,
        "lr": values["lr"] > 0,
        "momentum": 0 <= values["momentum"] < 1,
        "weight_decay": values["weight_decay"] >= 0,
        "cutout": values["cutout"] >= 0,
        "drop_path": 0 <= values["drop_path"] < 1,
        "auxiliary_weight": values["auxiliary_weight"] >= 0,
        "grad_clip": values["grad_clip"] is None or values["grad_clip"] > 0,
        "max_steps": values["max_steps"] is None or values["max_steps"] >= 1,
    }
    bad = [name for name, ok in limits.items() if not ok]
    if bad:
        name = bad[0]
        raise ValueError(f"{name} = {values[name]} is out of range; see pyronas train --help for valid values")


def _network_options(space, drop_path: float, auxiliary_weight: float) -> dict:
    """Keywords for ``space.network``: drop-path and the auxiliary head, if the space's network has them."""
    accepted = inspect.signature(space.network).parameters
    wanted = {"drop_path": drop_path, "auxiliary": auxiliary_weight > 0}
    missing = [k for k, v in wanted.items() if v and k not in accepted]
    if missing:
        raise ValueError(
            f"the {space.name} network has no {' or '.join(missing)}; pass drop_path=0 and auxiliary_weight=0"
        )
    return {k: v for k, v in wanted.items() if k in accepted}


def train(
    genotype: str,
    space: str = "darts",
    dataset: str = "cifar10",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    image_size: int | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    epochs: int = 600,
    batch_size: int = 96,
    lr: float = 0.025,
    momentum: float = 0.9,
    weight_decay: float = 3e-4,
    cutout: int = 16,
    drop_path: float = 0.2,
    auxiliary_weight: float = 0.4,
    grad_clip: float | None = 5.0,
    channels: int = 36,
    cells_per_stage: int = 6,
    seed: int = 0,
    device: str = "cpu",
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the evaluation network of ``genotype`` (a cell of ``space``) on ``dataset``; defaults follow [1].

    ``train_size`` / ``test_size`` keep a seeded random subset of the training / test split (for
    short runs). The test split is CIFAR's, or for ``folder`` data the sibling whose name has
    ``train`` replaced by ``test`` (``cifar10-train-jpeg.zip`` -> ``cifar10-test-jpeg.zip``);
    ``test_acc`` is ``None`` without one. ``image_size`` resamples both splits to that many pixels a side.
    ``max_steps`` stops this call after that many optimizer
    steps (a smoke run); a partly run epoch is evaluated and logged (``"partial": true``) but not
    checkpointed, so ``resume`` runs it again in full.
    """
    _check_options(**locals())
    search_space = get_space(space)
    genotype = search_space.validate(genotype)
    net_options = _network_options(search_space, drop_path, auxiliary_weight)
    config = {
        "genotype": genotype,
        "space": space,
        "dataset": dataset,
        "train_size": train_size,
        "test_size": test_size,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "cutout": cutout,
        "drop_path": drop_path,
        "auxiliary_weight": auxiliary_weight,
        "grad_clip": grad_clip,
        "channels": channels,
        "cells_per_stage": cells_per_stage,
        "seed": seed,
    }

    if image_size is not None:  # recorded only when used, so earlier checkpoints still resume
        config["image_size"] = image_size
    data = _subset(load_dataset(dataset, data_dir, download=download, image_size=image_size), train_size, seed)
    test = load_test_split(dataset, data_dir, download=download, image_size=image_size)
    if test is not None and test.classes != data.classes:
        raise DataError(f"the test split of {dataset} has other classes than its training split")
    test = None if test is None else _subset(test, test_size, seed)
    batches = Batches(data, min(batch_size, len(data)), device=device, seed=seed)

    seed_everything(seed)
    net = search_space.network(
        genotype,
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        **net_options,
    ).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    history: list[dict] = []
    out = None if out_dir is None else Path(out_dir)
    if resume:
        if out is None:
            raise CheckpointError("resume needs an output folder holding checkpoint.pt")
        state = load_checkpoint(out / CHECKPOINT)
        if state.get("config") != config:
            raise CheckpointError(
                "checkpoint was written by a different training configuration; use a new --out or drop --resume"
            )
        net.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        history = list(state["history"])
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / LOG, "w") as f:
            f.writelines(json.dumps(record) + "\n" for record in history)

    steps, last, start = 0, (history[-1] if history else {}), time.perf_counter()
    bar = tqdm(
        total=epochs * len(batches),
        initial=len(history) * len(batches),
        disable=not progress,
        desc="train",
        unit="step",
        dynamic_ncols=True,
    )
    try:
        for epoch in range(len(history), epochs):
            budget = None if max_steps is None else max_steps - steps
            record = last = _epoch(net, optimizer, batches, test, epoch, config, bar, max_steps=budget)
            steps += record["steps"]
            if out is not None:
                with open(out / LOG, "a") as f:
                    f.write(json.dumps(record) + "\n")
            if record["partial"]:
                break
            history.append(record)
            if out is not None:
                state = {
                    "format": 1,
                    "epoch": epoch + 1,
                    "config": config,
                    "network": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "history": history,
                }
                save_checkpoint(state, out / CHECKPOINT)
            if max_steps is not None and steps >= max_steps:
                break
    finally:
        bar.close()
    result = TrainResult(
        genotype=genotype,
        space=space,
        dataset=dataset,
        seed=seed,
        epochs=len(history),
        steps=steps,
        params=count_parameters(net),
        test_acc=last.get("test_acc"),
        seconds=time.perf_counter() - start,
        config=config,
        history=history,
    )
    if out is not None:
        save_json(result.to_json(), out / RESULT)
    return result


def _epoch(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Batches,
    test: ImageData | None,
    epoch: int,
    config: dict,
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
            raise TrainingDiverged(
                f"the training loss became {value} in epoch {epoch + 1}; lower --lr (the last checkpoint is kept)"
            )
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
