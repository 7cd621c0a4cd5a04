"""The found network of a search, from its result or its folder: standalone, weights inherited or fresh.

:func:`found_network` is behind :meth:`pyronas.api.SearchResult.network` and
:meth:`pyronas.diagnostics.SearchRun.network`. Inherited weights come from the trained supernet
(:func:`pyronas.nn.export.inherit`), with BatchNorm statistics recalibrated on the search's training half
(the weights half of :func:`~pyronas.data.split_halves`, un-augmented, normalised as the search's batches).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from pyronas.config import SearchConfig
from pyronas.data import Batches, ImageData, load_dataset, split_halves
from pyronas.infer.checkpoint import SUPERNET_STATE
from pyronas.infer.rundir import RESULT
from pyronas.infer.stages import as_stages
from pyronas.nn.export import inherit, recalibrate_bn, torch_only
from pyronas.spaces import SearchSpace

CALIBRATION_BATCHES = 20  # training batches that re-estimate the BatchNorm statistics of an inherited network


def training_half(config: SearchConfig) -> ImageData:
    """The search's weights half of its data set (the images its supernet weights were trained on)."""
    c = config
    data = load_dataset(c["dataset"], c["data_dir"], download=c["download"], image_size=c["image_size"])
    return split_halves(data, size=c["train_size"])[0]


def calibration_batches(config: SearchConfig, data: ImageData, device: torch.device | str = "cpu") -> Batches:
    """Un-augmented batches of ``data`` (the training half) in the search's order, normalised as its training."""
    return Batches(data, min(config["batch_size"], len(data)), augment=False, seed=config["seed"], device=device)


def checkpoint_supernet(
    space: SearchSpace, config: SearchConfig, state: Mapping, *, num_classes: int, in_channels: int
) -> nn.Module:
    """The trained supernet of a search checkpoint, rebuilt with the stages it went through (pruning, channels)."""
    supernet = space.supernet(
        channels=config["channels"],
        cells_per_stage=config["cells_per_stage"],
        num_classes=num_classes,
        in_channels=in_channels,
    )
    keeps = state.get("keeps") or {}
    stages = as_stages(config.stages) if config.stages else []
    for index, stage in enumerate(stages[: int(state.get("stage", -1)) + 1]):
        if stage.keep_ops is not None:
            supernet.prune(keeps[index])
        if stage.partial_channels is not None and stage.partial_channels != getattr(supernet, "partial_channels", 1):
            supernet.set_partial_channels(stage.partial_channels)
    prefix = SUPERNET_STATE
    weights = {k[len(prefix) :]: v for k, v in state["model"].items() if k.startswith(prefix)}
    supernet.load_state_dict(weights)
    return supernet.eval()


def run_genotype(path: Path, derived: str) -> str:
    """The genotype a search folder's ``result.json`` reports (a selected cell), else ``derived`` (the argmax)."""
    try:
        return str(json.loads((path / RESULT).read_text())["genotype"])
    except (OSError, ValueError, KeyError, TypeError):
        return derived


def found_network(
    space: SearchSpace,
    config: SearchConfig,
    genotype: str,
    supernet: nn.Module | None,
    *,
    inherit_weights: bool = True,
    calibration: int = CALIBRATION_BATCHES,
    plain: bool = True,
    data: ImageData | None = None,
    **network,
) -> nn.Module:
    """The standalone network of ``genotype``, at the search's size (``config``'s channels and cells per stage).

    With ``inherit_weights``, ``supernet``'s trained weights of the genotype's ops, BatchNorm recalibrated on
    ``calibration`` batches of the training half (0: the supernet's statistics), in eval mode; otherwise freshly
    initialised (``network`` may then resize it: ``channels=``, ``cells_per_stage=``). With ``plain`` the result
    is a :class:`torch.fx.GraphModule` of ``torch.nn`` modules only (:func:`~pyronas.nn.export.torch_only`);
    without, the space's own network class (scriptable; DARTS' drop-path and auxiliary head stay available).
    ``data``: the training half, if already loaded (:func:`training_half`).
    """
    data = training_half(config) if data is None else data
    if inherit_weights:
        if supernet is None:
            raise ValueError("no trained supernet to inherit weights from (pass inherit_weights=False)")
        net = inherit(space, supernet, genotype, **network)
        if calibration > 0:
            device = next(net.parameters()).device
            recalibrate_bn(net, calibration_batches(config, data, device), calibration)
    else:
        sizes = dict(channels=config["channels"], cells_per_stage=config["cells_per_stage"])
        sizes.update(num_classes=data.num_classes, in_channels=data.in_channels)
        net = space.network(space.validate(genotype), **{**sizes, **network})
    return torch_only(net) if plain else net
