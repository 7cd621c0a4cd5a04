"""An evaluation training's settings (``pyronas train``): one frozen dataclass, defaults of the DARTS recipe [1].

Fields carry the same metadata as :mod:`pyronas.config`'s, from which the CLI derives its options.

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields

from pyronas.config import VERSION, _datasets, _jsonable, option
from pyronas.spaces.darts_genotype import GENOTYPES
from pyronas.validate import (
    FRACTION,
    NATURAL,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    Test,
    check_device,
    check_limits,
    check_out_dir,
)

LIMITS: dict[str, Test] = {  # field -> its test (``None`` always passes)
    "image_size": POSITIVE_INT,
    "train_size": POSITIVE_INT,
    "test_size": POSITIVE_INT,
    "epochs": POSITIVE_INT,
    "batch_size": POSITIVE_INT,
    "lr": POSITIVE,
    "momentum": FRACTION,
    "weight_decay": NON_NEGATIVE,
    "cutout": NATURAL,
    "drop_path": FRACTION,
    "auxiliary_weight": NON_NEGATIVE,
    "grad_clip": (NON_NEGATIVE[0], "a finite number >= 0 (0: off)"),
    "channels": POSITIVE_INT,
    "cells_per_stage": POSITIVE_INT,
    "seed": NATURAL,
    "max_steps": POSITIVE_INT,
}


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`pyronas.train.train`; ``check()`` validates them (one-line ``ValueError``)."""

    genotype: str = option(
        None, f"the cell: a DARTS 'Genotype(normal=[...], ...)' text or a published name ({', '.join(GENOTYPES)}); "
        "an NB201 cell string; for a network of your own the JSON text {label: candidate}",
    )  # fmt: skip
    from_run: str | None = option(
        None, "a search folder: train the cell it found (its genotype and space replace --genotype and --space)",
        flag="--from", trajectory=False,
    )  # fmt: skip
    inherit_weights: bool = option(
        False, "start from the search supernet's trained weights of the cell, BatchNorm recalibrated (fine-tune; "
        "needs --from; the network then has the supernet's --channels and --cells-per-stage)",
    )  # fmt: skip
    space: str = option(
        "darts", "search space of the genotype: a registered name (darts, nb201, plugins) or a package.module:factory "
        "path (a network of your own: it has no drop-path or auxiliary head, pass --drop-path 0 --auxiliary-weight 0)",
    )  # fmt: skip
    dataset: str = option("cifar10", "data set", choices=_datasets)
    data_dir: str | None = option(
        None,
        "data folder (cifar: torchvision root; folder: ImageFolder dir or zip, its test split beside it: "
        "cifar10-train-jpeg.zip -> cifar10-test-jpeg.zip)",
        trajectory=False,
    )
    download: bool = option(False, "let torchvision download CIFAR into --data-dir", trajectory=False)
    image_size: int | None = option(None, "resample images to N x N pixels (default: as stored)")
    train_size: int | None = option(None, "training images (a seeded subset; default: all)")
    test_size: int | None = option(None, "test images (a seeded subset; default: all)")
    epochs: int = option(600, "epochs")
    batch_size: int = option(96, "images per step")
    lr: float = option(0.025, "initial learning rate (cosine to 0)")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(3e-4, "weight decay")
    cutout: int = option(16, "cutout square side in pixels (0: off)")
    drop_path: float = option(0.2, "final drop-path probability (ramped from 0)")
    auxiliary_weight: float = option(0.4, "auxiliary loss weight (0: no head)")
    grad_clip: float | None = option(5.0, "gradient norm clip (0: off)")
    channels: int = option(36, "C, channels of the first cells")
    cells_per_stage: int = option(6, "N; the network has 3N+2 cells")
    seed: int = option(0, "seed of the subsets, the batches and the initialisation")
    device: str = option("cpu", "torch device, e.g. cpu or cuda", trajectory=False)
    out_dir: str | None = option(None, "output folder for log, checkpoint and result.json", flag="--out",
                                 trajectory=False, cli_default="runs/train")  # fmt: skip
    resume: bool = option(False, "continue from OUT/checkpoint.pt", trajectory=False)
    overwrite: bool = option(
        False, "start afresh in an OUT holding a previous run (its files move to OUT/previous-<time>)", trajectory=False
    )
    max_steps: int | None = option(None, "stop after this many optimizer steps (smoke runs)", trajectory=False)
    progress: bool = option(True, "no progress bar and no per-epoch lines", flag="--quiet", trajectory=False)

    def __getitem__(self, name: str):
        return getattr(self, name)

    def replace(self, **given) -> TrainConfig:
        unknown = sorted(set(given) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"unknown training setting(s) {', '.join(unknown)}; see pyronas train --help")
        return dataclasses.replace(self, **given)

    def check(self) -> TrainConfig:
        """``self`` with ``grad_clip=0`` read as off, or a one-line ``ValueError`` naming the first bad value
        (numbers, the device, the output folder)."""
        if self.genotype is None and self.from_run is None:
            raise ValueError("give the cell to train: --genotype or --from RUN_DIR (Python: train(genotype))")
        if self.inherit_weights and self.from_run is None:
            raise ValueError("--inherit-weights needs the search folder to inherit from: --from RUN_DIR")
        check_limits(self, LIMITS, "train")
        check_device(self.device)
        check_out_dir(self.out_dir)
        return self.replace(grad_clip=None) if self.grad_clip == 0 else self

    def to_json(self) -> dict:
        return {"version": VERSION, **{f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}}

    @classmethod
    def from_json(cls, record: Mapping) -> TrainConfig:
        """Read :meth:`to_json`'s output or a pre-version-2 training config (checkpoints, ``result.json``)."""
        record = {k: v for k, v in record.items() if k != "version"}
        return cls().replace(**record)

    def resume_key(self) -> dict:
        """The settings that change a training's trajectory (a resumed training must match them)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("trajectory", True)}
