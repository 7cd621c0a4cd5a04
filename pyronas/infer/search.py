"""The search loop: bilevel SVI epochs over stages, with resume; what it records is :mod:`pyronas.infer.record`'s."""

from __future__ import annotations

import contextlib
import math
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyro
import torch
from pyro import poutine
from pyro.infer.elbo import ELBO
from pyro.optim import PyroOptim

from pyronas.data.batches import Batches
from pyronas.infer.bilevel import BilevelSVI
from pyronas.infer.checkpoint import CheckpointError
from pyronas.infer.params import load_store_only_state, store_only_state
from pyronas.infer.record import EpochTally, SearchRecorder
from pyronas.infer.stages import Stage, as_stages, enter_stage
from pyronas.names import STEP_ORDERS
from pyronas.spaces import SearchSpace


class SearchDiverged(FloatingPointError):
    """The ELBO, or a parameter of a model or guide distribution, became NaN or infinite."""


INVALID_PARAMETER = ("Expected parameter", "Expected value argument")  # torch.distributions' validation errors


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Search:
    """Alternate architecture steps on validation batches and weight steps on training batches.

    Args:
        model, guide: the method's pair; the guide must provide ``op_probabilities()``.
        space: the search space (derives the genotype from op probabilities).
        supernet: the supernet module used by the model.
        train, valid: batch iterators for the weights and the architecture.
        weight_optim, arch_optim: Pyro optimizers for the two parameter groups.
        loss: any Pyro ELBO (default ``Trace_ELBO``).
        epochs: number of epochs (with ``stages``: their sum, may be omitted).
        warmup_epochs: epochs of weight-only training before architecture steps start.
        stages: optional schedule of :class:`~pyronas.infer.stages.Stage` (or dicts of their fields):
            each stage may prune ops and change the supernet's partial channels on entry and has its
            own warm-up (then ``warmup_epochs`` must stay 0). Default: one stage of ``epochs``.
        seed: seeds every epoch (``seed, epoch``), so a resumed search repeats an uninterrupted one.
        out_dir: where ``log.jsonl`` and ``checkpoint.pt`` go (nothing is written if ``None``).
        benchmark: optional object with ``accuracies(genotype) -> dict``, logged per epoch.
        config: JSON-able description stored in checkpoints.
        resume_key: what a checkpoint must match to be resumed (default: ``config``); ``read_key`` computes
            it from the config of a checkpoint that stores none (see :class:`~pyronas.infer.rundir.RunDir`).
        store: the Pyro param store state the search's parameters live in (``run`` scopes it; default: a
            new one, so the global store is neither read nor cleared).
        progress: show a tqdm progress bar and one line per epoch.
        write: write ``log.jsonl`` and ``checkpoint.pt`` to ``out_dir`` (``False`` on all but rank 0 of a
            data-parallel search, which only read the checkpoint to resume).
        amp: autocast dtype of the steps (e.g. ``torch.bfloat16`` on a GPU); ``None``, the default, is full precision.
        average: in a data-parallel search, a function that replaces a list of tensors in place by their
            means over the processes (:meth:`pyronas.infer.distributed.World.average_`); the logged
            losses and accuracies are then those of the global batches, the same on every rank.
        tensorboard: also log each epoch to ``out_dir/tensorboard``.
        overwrite: a new search moves a previous run's files in ``out_dir`` to ``previous-<time>`` when it starts.
        step_order: ``"arch-first"`` (original DARTS, DrNAS) or ``"weights-first"`` (NB201's DARTS-V1): which of
            the two steps of an iteration comes first.
        clip_span: what the weights' gradient-norm clip spans (see :class:`BilevelSVI`).
        derive: the architecture of op probabilities ``{table: [rows, K]}``, logged each epoch and returned by
            :meth:`genotype` (default ``space.derive``, the argmax).
        epoch_fields: extra fields of each epoch's record, a JSON-able dict computed from the op probabilities
            (e.g. an expected cost); they must not replace the loop's own fields.

    Ctrl-C raises :class:`~pyronas.infer.rundir.RunInterrupted`, whose message says which epochs were saved.
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
        epochs: int | None = None,
        warmup_epochs: int = 0,
        stages: Sequence[Stage | Mapping] | None = None,
        seed: int = 0,
        out_dir: str | Path | None = None,
        benchmark=None,
        config: dict | None = None,
        resume_key: dict | None = None,
        read_key: Callable[[Mapping], Mapping] | None = None,
        store: dict | None = None,
        progress: bool = True,
        write: bool = True,
        amp: torch.dtype | None = None,
        average: Callable[[list[torch.Tensor]], None] | None = None,
        tensorboard: bool = False,
        overwrite: bool = False,
        step_order: str = "arch-first",
        clip_span: str = "weights",
        derive: Callable[[Mapping[str, torch.Tensor]], str] | None = None,
        epoch_fields: Callable[[Mapping[str, torch.Tensor]], dict] | None = None,
    ):
        if step_order not in STEP_ORDERS:
            raise ValueError(f"step_order must be one of {', '.join(STEP_ORDERS)}, got {step_order!r}")
        self.arch_first = step_order == "arch-first"
        if stages is None:
            if epochs is None or epochs < 1:
                raise ValueError(f"epochs must be >= 1, got {epochs}")
            stages = [Stage(epochs, warmup_epochs)]
        else:
            stages = as_stages(stages)
            if epochs is not None and epochs != sum(s.epochs for s in stages):
                raise ValueError(f"epochs={epochs} differs from the stages' total {sum(s.epochs for s in stages)}")
            if warmup_epochs:
                raise ValueError("with stages, give each stage its warmup_epochs instead of warmup_epochs")
            epochs = sum(s.epochs for s in stages)
        self.stages = stages
        self.stage = -1  # index of the stage whose supernet is in place
        self.keeps: dict[int, dict[str, torch.Tensor]] = {}  # op masks applied on entering stage i
        self.model, self.guide, self.space, self.supernet = model, guide, space, supernet
        self.train, self.valid = train, valid
        self.svi = BilevelSVI(model, guide, supernet, weight_optim, arch_optim, loss, amp=amp, clip_span=clip_span)
        self.epochs, self.seed = epochs, seed
        self.benchmark = benchmark
        self.config = dict(config or {})
        names = {t: (space.row_names(t), space.candidate_names(t)) for t in space.cell_types}
        self.recorder = SearchRecorder(
            out_dir, epochs=epochs, progress=progress, write=write, config=self.config, resume_key=resume_key,
            read_key=read_key, tensorboard=tensorboard, overwrite=overwrite, names=names,
        )  # fmt: skip
        self.store = store if store is not None else {"params": {}, "constraints": {}}
        self.average = average
        self.derive = derive if derive is not None else space.derive
        self.epoch_fields = epoch_fields
        self.epoch = 0  # epochs completed

    @property
    def history(self) -> list[dict]:
        """The records of the epochs run so far (those of a resumed checkpoint included)."""
        return self.recorder.history

    @property
    def saved(self) -> int:
        """Epochs in the checkpoint on disk."""
        return self.recorder.saved

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
            "resume_key": self.recorder.resume_key,
            "model": self.model.state_dict(),
            "guide": self.guide.state_dict(),
            "param_store": store_only_state([self.model, self.guide, self.supernet]),  # plain pyro.param sites
            "weight_optim": self.svi.weight_optim.get_state(),
            "arch_optim": self.svi.arch_optim.get_state(),
            "history": self.history,
            "stage": self.stage,
            "keeps": self.keeps,
        }

    def _restore_stages(self, state: dict) -> None:
        """Rebuild the supernet of the checkpoint's stage (pruned with its recorded masks) before loading weights."""
        keeps = state.get("keeps") or {}
        for index in range(self.stage + 1, int(state.get("stage", -1)) + 1):
            if self.stages[index].keep_ops is not None and index not in keeps:
                raise CheckpointError(f"checkpoint lacks the op masks of stage {index + 1}; start without --resume")
            self._enter_stage(index, keeps.get(index))

    def _enter_stage(self, index: int, keep: Mapping[str, torch.Tensor] | None = None) -> None:
        opt = self.svi.weight_optim
        applied = enter_stage(self.stages[index], self.supernet, self.model, self.guide, opt, keep)
        if applied is not None:
            self.keeps[index] = applied
        self.stage = index

    def _stage_at(self, epoch: int) -> tuple[int, int]:
        """``(stage index, first epoch of that stage)`` of a 0-based epoch."""
        start = 0
        for index, stage in enumerate(self.stages):
            if epoch < start + stage.epochs:
                return index, start
            start += stage.epochs
        return len(self.stages) - 1, start - self.stages[-1].epochs

    def load_state_dict(self, state: dict) -> None:
        """Load a checkpoint's state; its stage's supernet must be in place (``run(resume=True)`` sees to it)."""
        self.recorder.restore(state)
        self.model.load_state_dict(state["model"])
        self.guide.load_state_dict(state["guide"])
        load_store_only_state(state.get("param_store", {}))
        self.svi.weight_optim.set_state(state["weight_optim"])
        self.svi.arch_optim.set_state(state["arch_optim"])
        self.epoch = int(state["epoch"])
        self.stage, self.keeps = int(state.get("stage", -1)), dict(state.get("keeps") or {})

    # -- loop ----------------------------------------------------------------------------------
    def op_probabilities(self) -> dict[str, torch.Tensor]:
        return {cell: p.detach().cpu() for cell, p in self.guide.op_probabilities().items()}

    def genotype(self) -> str:
        """The architecture of the guide's op probabilities (``derive``'s)."""
        return self.derive(self.op_probabilities())

    def activate(self) -> contextlib.AbstractContextManager:
        """Context in which Pyro's param store holds this search's parameters."""
        return pyro.get_param_store().scope(self.store)

    def run(self, resume: bool = False) -> list[dict]:
        """Run (or, with ``resume``, continue) the search in its own param store; returns the per-epoch history."""
        with self.activate():
            return self._run(resume)

    def _run(self, resume: bool) -> list[dict]:
        state = None
        if resume:
            state = self.recorder.load()
            self._restore_stages(state)
        try:
            try:
                self._materialize()
            except ValueError as e:
                if not _invalid_parameter(e):
                    raise
                raise self._diverged("init", self.epoch, "a distribution's parameter is NaN or infinite") from None
            if state is not None:
                self.load_state_dict(state)
            self.recorder.start(self.epoch, min(len(self.train), len(self.valid)))
            self._loop()
        except KeyboardInterrupt as e:
            if type(e) is not KeyboardInterrupt:  # a subclass (RunInterrupted, a caller's own) passes unchanged
                raise
            raise self.recorder.interrupted() from None
        finally:
            self.recorder.close()
        return self.history

    def _loop(self) -> None:
        while self.epoch < self.epochs:
            index, _ = self._stage_at(self.epoch)
            if index != self.stage:
                self._enter_stage(index)
            record = self._epoch()
            self.epoch += 1
            self.recorder.commit(record, self.state_dict)

    def _epoch(self) -> dict:
        epoch = self.epoch
        seed_everything(self.seed * 10_007 + epoch)
        self.train.set_epoch(epoch)
        self.valid.set_epoch(epoch)
        index, stage_start = self._stage_at(epoch)
        search_arch = epoch - stage_start >= self.stages[index].warmup_epochs
        # per-step losses are floats, or 0-d device tensors under a sync-free ELBO; correct counts stay on the
        # device; both are read back once, at the end of the epoch
        tally = EpochTally()

        def track(group: str, step: Callable, images: torch.Tensor, labels: torch.Tensor) -> None:
            try:
                loss, logits = step(images, labels)
            except ValueError as e:
                if not _invalid_parameter(e):
                    raise
                raise self._diverged(group, epoch, "a distribution's parameter became NaN or infinite") from None
            if not torch.is_tensor(loss):
                self._check(loss, group, epoch)
            tally.add(group, loss, logits, labels)

        start = time.perf_counter()
        self.recorder.begin_epoch(epoch)
        with warnings.catch_warnings():  # a NaN ends the epoch with one line of ours, not Pyro's warnings
            warnings.filterwarnings("ignore", message="Encountered NaN", category=UserWarning)
            for (x_train, y_train), (x_valid, y_valid) in zip(self.train, self.valid):
                if search_arch and self.arch_first:
                    track("valid", self.svi.step_arch, x_valid, y_valid)
                track("train", self.svi.step_weights, x_train, y_train)
                if search_arch and not self.arch_first:
                    track("valid", self.svi.step_arch, x_valid, y_valid)
                self.recorder.step()
        for group, values in tally.read().items():  # float losses were checked at their step
            for value in values:
                self._check(value, group, epoch)
        if self.average is not None:
            tally.average(self.average, self.train.device)
        lr = getattr(self.svi.weight_optim, "lr", None)
        step_schedule = getattr(self.svi.weight_optim, "step", None)
        if callable(step_schedule):
            step_schedule()
        probs = self.op_probabilities()
        return self.recorder.record(
            tally, epoch=epoch, stage=index, searched=search_arch, probs=probs, genotype=self.derive(probs),
            weight_lr=lr, seconds=time.perf_counter() - start, benchmark=self.benchmark,
            extra=None if self.epoch_fields is None else self.epoch_fields(probs),
        )  # fmt: skip

    def _check(self, loss: float, group: str, epoch: int) -> None:
        if not math.isfinite(loss):
            raise self._diverged(group, epoch, f"the ELBO became {loss}")

    def _diverged(self, group: str, epoch: int, what: str) -> SearchDiverged:
        """The one-line error of a search that diverged in a step of ``group`` (``"train"``/``"valid"``)."""
        step = {"train": "a weight step", "valid": "an architecture step", "init": "the first model and guide run"}
        return SearchDiverged(
            f"the search diverged in epoch {epoch + 1}: {what} in {step.get(group, group)}; lower the learning rate, "
            f"or check the data and --option values ({self.recorder.kept()})"
        )


def _invalid_parameter(error: ValueError) -> bool:
    """Whether ``error`` is torch.distributions' refusal of a parameter or value (NaN, infinite, out of support)."""
    return any(text in str(error) for text in INVALID_PARAMETER)
