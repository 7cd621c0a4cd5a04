"""What a search records, apart from its loop: step tallies, epoch records, progress and the run folder.

:class:`EpochTally` collects an epoch's per-step losses and correct counts (floats, or device tensors read back
once at the end of the epoch). :class:`SearchRecorder` turns an epoch into its record, shows progress and one
line per epoch, and writes ``log.jsonl``, ``checkpoint.pt`` and TensorBoard through
:class:`~pyronas.infer.rundir.RunDir`. Neither knows which space a search runs: the loop hands over op
probabilities, a derived architecture and any extra fields of the epoch (``Search(epoch_fields=...)``), and
TensorBoard gets the table names it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from pyronas.infer.rundir import RunDir, RunInterrupted, epoch_line, interrupted, kept, progress_bar

GROUPS = ("train", "valid")  # weight steps on training batches, architecture steps on validation batches


def op_entropy(probs: Mapping[str, torch.Tensor]) -> float:
    """Mean over rows (and tables) of the categorical entropy of op probabilities, in nats."""
    values = [-(p * p.clamp_min(1e-12).log()).sum(-1) for p in probs.values()]
    return float(torch.cat(values).mean())


class EpochTally:
    """Per-step losses, correct predictions and images of one epoch, for each group (``train``, ``valid``)."""

    def __init__(self):
        self.losses: dict[str, list] = {g: [] for g in GROUPS}
        self.correct: dict[str, torch.Tensor | float] = {g: 0 for g in GROUPS}
        self.seen: dict[str, float] = {g: 0 for g in GROUPS}

    def add(self, group: str, loss: float | torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.losses[group].append(loss)
        self.correct[group] = self.correct[group] + (logits.argmax(-1) == labels).sum()
        self.seen[group] += len(labels)

    def read(self) -> dict[str, list[float]]:
        """Replace tensor losses and counts by Python numbers (one device read); return the losses read that way,
        which no step has checked yet."""
        unchecked = {}
        for group, values in self.losses.items():
            if any(torch.is_tensor(v) for v in values):
                values = torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in values]).cpu().tolist()
                self.losses[group] = unchecked[group] = values
        self.correct = {g: float(c) for g, c in self.correct.items()}
        return unchecked

    def average(self, average: Callable[[list[torch.Tensor]], None], device: torch.device | str) -> None:
        """Replace losses and counts by their means over the processes of a data-parallel search (one collective).

        Shards are equal, so the mean of the processes' batch-mean losses is the global batch's mean loss; counts
        are averaged too, which keeps their ratio, the accuracy.
        """
        losses = [torch.tensor(self.losses[g], dtype=torch.float64, device=device) for g in GROUPS]
        counts = [float(self.correct[g]) for g in GROUPS] + [float(self.seen[g]) for g in GROUPS]
        counts = torch.tensor(counts, device=device)
        average([*losses, counts])
        self.losses = {g: t.tolist() for g, t in zip(GROUPS, losses)}
        counts = counts.tolist()
        self.correct, self.seen = dict(zip(GROUPS, counts[: len(GROUPS)])), dict(zip(GROUPS, counts[len(GROUPS) :]))

    def mean_loss(self, group: str) -> float:
        return sum(self.losses[group]) / max(1, len(self.losses[group]))

    def accuracy(self, group: str) -> float:
        """Percentage of correct predictions."""
        return 100.0 * float(self.correct[group]) / max(1, self.seen[group])


class SearchRecorder:
    """A search's history and run folder: resume checks, epoch records, progress, log, checkpoints, TensorBoard.

    Args:
        out_dir: the run folder (nothing is written if ``None``).
        epochs: the search's epochs (for the progress bar and epoch lines).
        progress: show a tqdm progress bar and one line per epoch.
        write, config, resume_key, read_key, tensorboard, overwrite, names: as :class:`~pyronas.infer.rundir.RunDir`.
    """

    def __init__(
        self,
        out_dir: str | Path | None,
        *,
        epochs: int,
        progress: bool = True,
        write: bool = True,
        config: dict | None = None,
        resume_key: dict | None = None,
        read_key: Callable[[Mapping], Mapping] | None = None,
        tensorboard: bool = False,
        overwrite: bool = False,
        names=None,
    ):
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.epochs, self.progress, self.write = epochs, progress, write
        self.rundir = RunDir(
            out_dir, "search", config=config, resume_key=resume_key, read_key=read_key, write=write,
            tensorboard=tensorboard, overwrite=overwrite, names=names,
        )  # fmt: skip
        self.history: list[dict] = []
        self.saved = 0  # epochs in the checkpoint on disk
        self._bar = None

    @property
    def resume_key(self) -> dict:
        return self.rundir.resume_key

    def load(self) -> dict:
        """The checkpoint to resume from (checked against the resume key)."""
        state = self.rundir.load()
        self.saved = int(state["epoch"])
        return state

    def restore(self, state: Mapping) -> None:
        """Take a checkpoint's history, after checking that this search may continue it."""
        self.rundir.check(state)
        self.history = list(state["history"])

    def start(self, done: int, steps: int) -> None:
        """Open the run folder and the progress bar of ``steps`` steps per epoch, ``done`` epochs in."""
        self.rundir.start(self.history)
        self._bar = progress_bar(self.epochs * steps, done * steps, "search", self.progress)

    def begin_epoch(self, epoch: int) -> None:
        self._bar.set_description(f"search {epoch + 1}/{self.epochs}")

    def step(self) -> None:
        self._bar.update(1)

    def record(
        self,
        tally: EpochTally,
        *,
        epoch: int,
        stage: int,
        searched: bool,
        probs: Mapping[str, torch.Tensor],
        genotype: str,
        weight_lr: float | None,
        seconds: float,
        benchmark: object = None,
        extra: Mapping | None = None,
    ) -> dict:
        """The JSON-able record of a finished 0-based ``epoch`` (``searched``: it had architecture steps), with the
        ``extra`` fields the search adds (a field of the record's own is refused)."""
        record = {
            "epoch": epoch + 1,
            "stage": stage + 1,
            "train_loss": tally.mean_loss("train"),
            "train_acc": tally.accuracy("train"),
            "valid_loss": tally.mean_loss("valid") if searched else None,
            "valid_acc": tally.accuracy("valid") if searched else None,
            "entropy": op_entropy(probs),
            "weight_lr": weight_lr,
            "genotype": genotype,
            "op_probabilities": {cell: p.tolist() for cell, p in probs.items()},
            "seconds": seconds,
            "train_loss_steps": tally.losses["train"],
            "valid_loss_steps": tally.losses["valid"],
        }
        if benchmark is not None:
            record["benchmark"] = benchmark.accuracies(genotype)
        clash = sorted(set(extra or {}) & set(record))
        if clash:
            raise ValueError(f"extra epoch fields {', '.join(clash)} would replace the record's own")
        record.update(extra or {})
        self._bar.set_postfix(loss=f"{record['train_loss']:.3f}", acc=f"{record['train_acc']:.1f}")
        return record

    def commit(self, record: dict, state: Callable[[], dict]) -> None:
        """Append ``record`` to the history, print its line, log it and checkpoint ``state()``."""
        self.history.append(record)
        if self.progress:
            self._bar.write(epoch_line(record, self.epochs))
        self.rundir.log(record, state() if self.rundir.write else None)
        self.saved = record["epoch"]

    def kept(self) -> str:
        """What is saved, for error messages (e.g. "epochs 1-3 are saved in runs/x")."""
        return kept(self.saved, self.out_dir if self.write else None)

    def interrupted(self) -> RunInterrupted:
        return interrupted("search", self.saved, self.out_dir if self.write else None)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.rundir.close()
