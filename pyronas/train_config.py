"""An evaluation training's settings (``pyronas train``): one frozen dataclass, defaults of the DARTS recipe [1].

Fields carry the same metadata as :mod:`pyronas.config`'s, from which the CLI derives its options.

Settings left at ``None`` are resolved per space (:data:`RECIPES`: DARTS [1], NAS-Bench-201 [2]) and data set
(:data:`DATASET_DEFAULTS`) by :func:`resolve`, the cutout by the image size (:func:`default_cutout`).

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
    [2] X. Dong, Y. Yang. NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search. ICLR 2020.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, fields

from pyronas.calls import argument
from pyronas.config_fields import option
from pyronas.config_json import VERSION, jsonable
from pyronas.config_types import check_fields
from pyronas.names import DATASETS, GENOTYPES
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
    "held_out": (lambda v: 0 < v < 1, "a fraction strictly between 0 and 1"),
    "drop_path": FRACTION,
    "auxiliary_weight": NON_NEGATIVE,
    "grad_clip": (NON_NEGATIVE[0], "a finite number >= 0 (0: off)"),
    "channels": POSITIVE_INT,
    "cells_per_stage": POSITIVE_INT,
    "seed": NATURAL,
    "max_steps": POSITIVE_INT,
}


RECIPES = {  # per space, the defaults of its paper's training recipe; other spaces (networks of your own) take darts's
    "darts": dict(epochs=600, batch_size=96, lr=0.025, weight_decay=3e-4, channels=36, cells_per_stage=6, cutout=0.5,
                  drop_path=0.2, auxiliary_weight=0.4),  # [1]; cutout: a share of the image side (16 on 32 x 32)
    "nb201": dict(epochs=200, batch_size=256, lr=0.1, weight_decay=5e-4, channels=16, cells_per_stage=5, cutout=0,
                  drop_path=0.0, auxiliary_weight=0.0),  # [2]
}  # fmt: skip
MIN_CUTOUT_SIDE = 32  # images smaller than this get no cutout by default: its hole would hide most of an 8 x 8 digit
# Per data set, over the recipe's. The embedded digits (1,437 training images of 8 x 8 pixels after the held-out split)
# make 15 steps an epoch at batch 96, too few for a short run, and DARTS's 20 cells of C=36 (3.3M parameters) are sized
# for 50,000 CIFAR images: digits trains 8 cells of C=16 (0.25M parameters with the DARTS_V2 cell).
DATASET_DEFAULTS = {
    "digits": {"batch_size": 32, "channels": 16, "cells_per_stage": 2},
}
NETWORK_OPTIONS = {"drop_path": "drop_path", "auxiliary_weight": "auxiliary"}  # setting -> keyword of space.network


def infer_space(genotype: str) -> str:
    """The space a genotype's text belongs to: ``nb201`` for a cell string ``'|op~0|+...'``, else ``darts``; a JSON
    ``{label: candidate}`` genotype (a network of your own) raises, as only its ``space`` path can say which."""
    text = genotype.strip()
    if text.startswith("{"):
        raise ValueError(f"a JSON {{label: candidate}} genotype is a choice of a network of your own: give its space, "
                         f"{argument('space', 'package.module:factory')}")  # fmt: skip
    return "nb201" if text.startswith("|") else "darts"


def resolve(c: TrainConfig, network) -> TrainConfig:
    """``c`` with the settings left at ``None`` taken from its space's recipe (:data:`RECIPES`) and its data set's
    defaults (:data:`DATASET_DEFAULTS`); ``network`` is the space's ``network`` callable. Drop-path and the auxiliary
    head default to off where ``network`` has none; a positive value given for them there raises, naming the setting.
    ``cutout`` stays ``None`` until the image size is known (:func:`default_cutout`)."""
    recipe = {**RECIPES.get(c.space, RECIPES["darts"]), **DATASET_DEFAULTS.get(c.dataset, {})}
    accepted = inspect.signature(network).parameters
    found = {}
    for name, keyword in NETWORK_OPTIONS.items():
        given = c[name]
        if keyword not in accepted:
            if given:
                what = "drop-path" if name == "drop_path" else "auxiliary head"
                raise ValueError(f"the {c.space} network has no {what}: leave {argument(name)} out "
                                 f"(or {argument(name, 0)})")  # fmt: skip
            found[name] = 0.0
        elif given is None:
            found[name] = recipe[name]
    for name in ("epochs", "batch_size", "lr", "weight_decay", "channels", "cells_per_stage"):
        if c[name] is None:
            found[name] = recipe[name]
    return c.replace(**found)


def default_cutout(c: TrainConfig, side: int) -> int:
    """The cutout side for images of ``side`` pixels: ``c.cutout`` if given, else the recipe's share of the side
    (half: 16 on 32 x 32), off below :data:`MIN_CUTOUT_SIDE` pixels."""
    if c.cutout is not None:
        return c.cutout
    share = RECIPES.get(c.space, RECIPES["darts"])["cutout"]
    return int(share * side) if side >= MIN_CUTOUT_SIDE else 0


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`pyronas.train.train`; ``check()`` validates them (one-line ``ValueError``)."""

    genotype: str | None = option(
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
    space: str | None = option(
        None, "search space of the genotype: a registered name (darts, nb201, plugins) or a package.module:factory "
        "path (a network of your own) (default: read from the genotype: an NB201 '|op~0|+...' string is nb201, "
        "any other text darts; a JSON {label: candidate} genotype needs its --space package.module:factory)",
    )  # fmt: skip
    dataset: str = option("cifar10", "data set", choices=DATASETS)
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
    held_out: float = option(
        0.2, "share of the training images held out (a seeded split) to test on, for data without a test split "
        "(digits; a folder without a test sibling)",
    )  # fmt: skip
    epochs: int | None = option(None, "epochs (default: 600; nb201: 200)")
    batch_size: int | None = option(None, "images per step (default: 96; nb201: 256; digits: 32)")
    lr: float | None = option(None, "initial learning rate, cosine to 0 (default: 0.025; nb201: 0.1)")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float | None = option(None, "weight decay (default: 3e-4; nb201: 5e-4)")
    cutout: int | None = option(
        None, "cutout square side in pixels, 0: off (default: half the image side, 16 on 32 x 32 CIFAR; off for "
        "images under 32 pixels, where a 16-pixel hole hides most of the image, and for nb201)",
    )  # fmt: skip
    drop_path: float | None = option(
        None, "final drop-path probability, ramped from 0 (default: 0.2 for darts; off where the network has none: "
        "nb201, a network of your own)",
    )  # fmt: skip
    auxiliary_weight: float | None = option(
        None, "auxiliary loss weight, 0: no head (default: 0.4 for darts; 0 where the network has no auxiliary head: "
        "nb201, a network of your own)",
    )  # fmt: skip
    grad_clip: float | None = option(5.0, "gradient norm clip (0: off)")
    channels: int | None = option(None, "C, channels of the first cells (default: 36; nb201 and digits: 16)")
    cells_per_stage: int | None = option(
        None, "N cells per stage (default: 6, darts has 3N+2 cells; nb201: 5; digits: 2)"
    )
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

    def __post_init__(self) -> None:
        check_fields(self, "train")

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
            raise ValueError(f"give the cell to train: {argument('genotype', 'CELL')} or "
                             f"{argument('from_run', 'RUN_DIR', flag='--from')}")  # fmt: skip
        if self.inherit_weights and self.from_run is None:
            raise ValueError(f"{argument('inherit_weights')} needs the search folder to inherit from: "
                             f"{argument('from_run', 'RUN_DIR', flag='--from')}")  # fmt: skip
        check_limits(self, LIMITS, "train")
        check_device(self.device)
        check_out_dir(self.out_dir)
        return self.replace(grad_clip=None) if self.grad_clip == 0 else self

    def to_json(self) -> dict:
        return {"version": VERSION, **{f.name: jsonable(getattr(self, f.name)) for f in fields(self)}}

    @classmethod
    def from_json(cls, record: Mapping) -> TrainConfig:
        """Read :meth:`to_json`'s output or a pre-version-2 training config (checkpoints, ``result.json``)."""
        record = {k: v for k, v in record.items() if k != "version"}
        return cls().replace(**record)

    def resume_key(self) -> dict:
        """The settings that change a training's trajectory (a resumed training must match them)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("trajectory", True)}
