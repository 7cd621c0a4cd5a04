"""The search loop: bilevel SVI epochs with logging, checkpoints, resume and a progress bar."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pyro
import torch
from pyro import poutine
from pyro.infer.elbo import ELBO
from pyro.optim import PyroOptim
from tqdm.auto import tqdm

from pyronas.data.batches import Batches
from pyronas.infer.bilevel import BilevelSVI
from pyronas.infer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pyronas.spaces import SearchSpace

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"


class SearchDiverged(FloatingPointError):
    """The ELBO became NaN or infinite."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def op_entropy(probs: Mapping[str, torch.Tensor]) -> float:
    """Mean over edges (and cell types) of the categorical entropy of op probabilities, in nats."""
    values = [-(p * p.clamp_min(1e-12).log()).sum(-1) for p in probs.values()]
    return float(torch.cat(values).mean())


class Search:
    """Alternate architecture steps on validation batches and weight steps on training batches.

    Args:
        model, guide: the method's pair; the guide must provide ``op_probabilities()``.
        space: the search space (derives the genotype from op probabilities).
        supernet: the supernet module used by the model.
        train, valid: batch iterators for the weights and the architecture.
        weight_optim, arch_optim: Pyro optimizers for the two parameter groups.
        loss: any Pyro ELBO (default ``Trace_ELBO``).
        epochs: number of epochs.
        warmup_epochs: epochs of weight-only training before architecture steps start.
        seed: seeds every epoch (``seed, epoch``), so a resumed search repeats an uninterrupted one.
        out_dir: where ``log.jsonl`` and ``checkpoint.pt`` go (nothing is written if ``None``).
        benchmark: optional object with ``accuracies(genotype) -> dict``, logged per epoch.
        config: JSON-able description stored in checkpoints; resuming checks it matches.
        progress: show a tqdm progress bar.
    """

    def __init__(
        self,
        model: Callable,
        guide: Callable,
        space: SearchSpace,
        supernet: torch.nn.Module,
        train: Batches,
        valid: Batches,
        *,
        weight_optim: PyroOptim,
        arch_optim: PyroOptim,
        loss: ELBO | None = None,
        epochs: int,
        warmup_epochs: int = 0,
        seed: int = 0,
        out_dir: str | Path | None = None,
        benchmark=None,
        config: dict | None = None,
        progress: bool = True,
    ):
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        self.model, self.guide, self.space, self.supernet = model, guide, space, supernet
        self.train, self.valid = train, valid
        self.svi = BilevelSVI(model, guide, supernet, weight_optim, arch_optim, loss)
        self.epochs, self.warmup_epochs, self.seed = epochs, warmup_epochs, seed
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.benchmark = benchmark
        self.config = dict(config or {})
        self.progress = progress
        self.history: list[dict] = []
        self.epoch = 0  # epochs completed

    # -- state ---------------------------------------------------------------------------------
    def _materialize(self) -> None:
        """Run guide and model once so that lazily created parameters exist before loading state."""
        images, labels = next(iter(self.valid))
        self.supernet.eval()
        with torch.no_grad():
            trace = poutine.trace(self.guide).get_trace(images, labels)
            poutine.replay(self.model, trace=trace)(images, labels)
        self.supernet.train()

    def state_dict(self) -> dict:
        return {
            "format": 1,
            "epoch": self.epoch,
            "config": self.config,
            "model": self.model.state_dict(),
            "guide": self.guide.state_dict(),
            "weight_optim": self.svi.weight_optim.get_state(),
            "arch_optim": self.svi.arch_optim.get_state(),
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("config") != self.config:
            raise CheckpointError(
                "checkpoint was written by a different search configuration; use a new --out or drop --resume"
            )
        self.model.load_state_dict(state["model"])
        self.guide.load_state_dict(state["guide"])
        self.svi.weight_optim.set_state(state["weight_optim"])
        self.svi.arch_optim.set_state(state["arch_optim"])
        self.history = list(state["history"])
        self.epoch = int(state["epoch"])

    # -- loop ----------------------------------------------------------------------------------
    def op_probabilities(self) -> dict[str, torch.Tensor]:
        return {cell: p.detach().cpu() for cell, p in self.guide.op_probabilities().items()}

    def genotype(self) -> str:
        return self.space.derive(self.op_probabilities())

    def run(self, resume: bool = False) -> list[dict]:
        """Run (or, with ``resume``, continue) the search; returns the per-epoch history."""
        pyro.clear_param_store()
        self._materialize()
        ckpt = None if self.out_dir is None else self.out_dir / CHECKPOINT
        if resume:
            if ckpt is None:
                raise CheckpointError("resume needs an output folder holding checkpoint.pt")
            self.load_state_dict(load_checkpoint(ckpt))
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / LOG, "w") as f:
                f.writelines(json.dumps(record) + "\n" for record in self.history)
        steps = min(len(self.train), len(self.valid))
        bar = tqdm(
            total=self.epochs * steps,
            initial=self.epoch * steps,
            disable=not self.progress,
            desc="search",
            unit="step",
            dynamic_ncols=True,
        )
        try:
            while self.epoch < self.epochs:
                record = self._epoch(bar)
                self.history.append(record)
                self.epoch += 1
                if self.out_dir is not None:
                    with open(self.out_dir / LOG, "a") as f:
                        f.write(json.dumps(record) + "\n")
                    save_checkpoint(self.state_dict(), ckpt)
        finally:
            bar.close()
        return self.history

    def _epoch(self, bar) -> dict:
        epoch = self.epoch
        seed_everything(self.seed * 10_007 + epoch)
        self.train.set_epoch(epoch)
        self.valid.set_epoch(epoch)
        search_arch = epoch >= self.warmup_epochs
        totals = torch.zeros(6, dtype=torch.float64)  # train loss, correct, count; valid loss, correct, count
        step_losses: dict[str, list[float]] = {"train": [], "valid": []}  # floats: no extra syncs
        start = time.perf_counter()
        bar.set_description(f"search {epoch + 1}/{self.epochs}")
        for (x_train, y_train), (x_valid, y_valid) in zip(self.train, self.valid):
            if search_arch:
                loss, logits = self.svi.step_arch(x_valid, y_valid)
                self._check(loss, "architecture", epoch)
                step_losses["valid"].append(loss)
                totals[3:] += torch.tensor([loss, (logits.argmax(-1) == y_valid).sum().item(), len(y_valid)])
            loss, logits = self.svi.step_weights(x_train, y_train)
            self._check(loss, "weight", epoch)
            step_losses["train"].append(loss)
            totals[:3] += torch.tensor([loss, (logits.argmax(-1) == y_train).sum().item(), len(y_train)])
            bar.update(1)
        lr = getattr(self.svi.weight_optim, "lr", None)
        step_schedule = getattr(self.svi.weight_optim, "step", None)
        if callable(step_schedule):
            step_schedule()
        probs = self.op_probabilities()
        genotype = self.space.derive(probs)
        batches = max(1.0, float(totals[2]) / max(1, self.train.batch_size))
        record = {
            "epoch": epoch + 1,
            "train_loss": float(totals[0]) / batches,
            "train_acc": 100.0 * float(totals[1]) / max(1.0, float(totals[2])),
            "valid_loss": float(totals[3]) / batches if search_arch else None,
            "valid_acc": 100.0 * float(totals[4]) / float(totals[5]) if search_arch else None,
            "entropy": op_entropy(probs),
            "weight_lr": lr,
            "genotype": genotype,
            "op_probabilities": {cell: p.tolist() for cell, p in probs.items()},
            "seconds": time.perf_counter() - start,
            "train_loss_steps": step_losses["train"],
            "valid_loss_steps": step_losses["valid"],
        }
        if self.benchmark is not None:
            record["benchmark"] = self.benchmark.accuracies(genotype)
        bar.set_postfix(loss=f"{record['train_loss']:.3f}", acc=f"{record['train_acc']:.1f}")
        return record

    @staticmethod
    def _check(loss: float, group: str, epoch: int) -> None:
        if not math.isfinite(loss):
            raise SearchDiverged(
                f"the {group} ELBO became {loss} in epoch {epoch + 1}; lower the learning rate or check the data "
                "(the last checkpoint is kept)"
            )
