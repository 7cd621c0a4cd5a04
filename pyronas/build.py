"""Build a search's parts from its (resolved) config: data, supernet, model + guide, optimizers, ELBO, tables.

With ``cost`` set, the cost table of the search's standalone networks is measured on the search device and the
method's model is wrapped in a cost prior (:mod:`pyronas.costs.objective`); no method file is involved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import pyro
import torch
from pyro.infer.elbo import ELBO

from pyronas.benchmarks import NB201Table
from pyronas.config import SearchConfig, resolve, search_config
from pyronas.costs.objective import SearchCost, search_cost
from pyronas.costs.table import search_size
from pyronas.data import Batches, DataError, ImageData, load_dataset, split_halves
from pyronas.infer import Search, seed_everything
from pyronas.infer.adapted_guide import adapt_guide
from pyronas.infer.contract import check_pair
from pyronas.infer.distributed import World, join_world
from pyronas.infer.elbos import SHORT, make_elbo
from pyronas.infer.params import check_parameters
from pyronas.optim import NGVI, arch_adam, weight_sgd
from pyronas.optim.named import SGD_DEFAULTS, named_optim, with_rates
from pyronas.registry import MethodSpec, get_method
from pyronas.spaces import SearchSpace, get_space

ELBOS = SHORT  # the short ELBO names; any pyro.infer ELBO is also taken by its class name
AMP_DTYPES = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}  # autocast dtypes of the fast path


def arch_optimizer(name: str, lr: float | None, weight_decay: float | None, model, args: dict | None = None) -> object:
    """The architecture optimizer ``name`` with keyword ``args``: DARTS' Adam (``adam``), :class:`~pyronas.optim.NGVI`
    for Gaussian guides (``ngvi``), or any ``pyro.optim`` optimizer by name (``ClippedAdam``).

    NGVI's ``num_data`` is derived as ``1 / kl_weight`` when the model weights its KL terms by a positive
    ``kl_weight`` attribute (see :func:`pyronas.infer.kl_weight`), so that ``num_data * loss`` is the
    full negative ELBO, and a given one that contradicts it is refused (:meth:`~pyronas.optim.NGVI.bind`).
    Weight decay applies to optimizers that take one (NGVI's prior is the model's).
    """
    args = dict(args or {})
    if name == "adam":
        return arch_adam(**{"lr": lr, "weight_decay": weight_decay, **args})  # given args win, as for the others
    if name == "ngvi":
        optim = NGVI({"lr": lr, **args})
        optim.bind(model)
        return optim
    return named_optim(name, with_rates(name, lr, weight_decay, args))


def weight_optimizer(c: SearchConfig) -> object:
    """The weights' optimizer of a resolved config: the protocol's SGD, or a ``pyro.optim`` optimizer by name, each
    under the cosine schedule from ``weight_lr`` to ``weight_lr_min`` and the global ``grad_clip``."""
    name, args = c["weight_optim"], c["weight_optim_args"]
    if name is not None and not isinstance(name, str):
        return name
    if name is None and not args:
        return weight_sgd(
            c["epochs"], c["weight_lr"], c["weight_lr_min"], weight_decay=c["weight_decay"], clip_norm=c["grad_clip"],
            nesterov=c["nesterov"],
        )  # fmt: skip
    base = {**SGD_DEFAULTS, "nesterov": c["nesterov"]} if name is None else {}
    return named_optim(
        name or "SGD",
        with_rates(name or "SGD", c["weight_lr"], c["weight_decay"], args, base),
        clip_norm=c["grad_clip"],
        scheduler_constructor=torch.optim.lr_scheduler.CosineAnnealingLR,
        scheduler_args={"T_max": max(1, c["epochs"]), "eta_min": c["weight_lr_min"]},
    )


@dataclass
class SearchParts:
    """Everything a search runs on, built by :func:`build_search`; ``activate()`` scopes the param store."""

    config: SearchConfig  # resolved
    spec: MethodSpec
    space: SearchSpace
    supernet: torch.nn.Module
    model: torch.nn.Module
    guide: torch.nn.Module
    train: Batches
    valid: Batches
    weights_half: ImageData
    arch_half: ImageData
    weight_optim: object
    arch_optim: object
    loss: ELBO
    table: NB201Table | None
    world: World
    cost: SearchCost | None = None  # the cost objective of a cost-aware search (``model`` then wears its prior)
    store: dict = field(default_factory=lambda: {"params": {}, "constraints": {}}, repr=False)

    @contextlib.contextmanager
    def activate(self) -> Iterator[SearchParts]:
        """Context in which Pyro's param store holds this search's parameters (and only them)."""
        with pyro.get_param_store().scope(self.store):
            yield self

    def runner(self) -> Search:
        """The search loop over these parts; run it inside :meth:`activate`."""
        c = self.config
        return Search(
            self.model,
            self.guide,
            self.space,
            self.supernet,
            self.train,
            self.valid,
            weight_optim=self.weight_optim,
            arch_optim=self.arch_optim,
            loss=self.loss,
            stages=c.stages,
            seed=c["seed"],
            out_dir=c["out_dir"],
            benchmark=self.table,
            config=c.to_json(),
            resume_key=c.resume_key(),
            read_key=lambda stored: SearchConfig.from_json(stored).resume_key(),
            store=self.store,
            progress=c["progress"] and self.world.is_main,
            write=self.world.is_main,
            amp=AMP_DTYPES[c["amp"]],
            average=self.world.average_ if self.world.distributed else None,
            tensorboard=c["tensorboard"],
            overwrite=c["overwrite"],
            step_order=c["step_order"],
            clip_span=c["grad_clip_span"],
            derive=None if self.cost is None else self.cost.derive,
            epoch_fields=None if self.cost is None else self.cost.epoch_fields,
        )


def build_pair(
    spec: MethodSpec,
    supernet: torch.nn.Module,
    space: SearchSpace,
    options: dict,
    guide: object = None,
    guide_args: dict | None = None,
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The method's ``(model, guide)`` (``guide``, if given, replaces the method's; a guide class is called with
    ``guide_args``), checked against the contract and for parameters that could be neither learned nor saved
    (:func:`pyronas.infer.params.check_parameters`)."""
    model, own_guide = spec.build(supernet, space, **options)
    if guide is not None:
        own_guide = adapt_guide(guide, model, guide_args)
    elif guide_args:
        raise ValueError("guide_args (--guide-args) need a guide class (--guide), e.g. --guide AutoNormal")
    check_pair(model, own_guide, spec.name)
    check_parameters(model, own_guide, exclude=[supernet], method=spec.name)
    return model, own_guide


class Resolved(NamedTuple):
    """A search resolved once (:func:`resolve_search`): what :func:`build_search` builds as it is."""

    config: SearchConfig
    spec: MethodSpec
    space: SearchSpace


def resolve_search(config: SearchConfig | Mapping | str | None = None, **overrides) -> Resolved:
    """``(resolved config, method spec, space)`` of ``config`` with flat ``overrides``, every setting checked and
    the method options converted to the types of the method's constructors."""
    config = search_config(config, **overrides)
    spec, space = get_method(config.method), get_space(config.space)
    config = resolve(config, spec.protocol, space)
    return Resolved(config.replace(method_options=spec.check_options(config.method_options)), spec, space)


def printed_config(resolved: Resolved) -> dict:
    """The JSON of a resolved search as ``--print-config`` shows it: the method options the method will use (its
    constructors' defaults under those given) spelled out; fed back as ``--config`` it resolves the same."""
    c, spec, _ = resolved
    return c.replace(method_options={**spec.options(), **c.method_options}).to_json()


def build_inference(
    config: SearchConfig, spec: MethodSpec, space: SearchSpace, supernet: torch.nn.Module
) -> tuple[torch.nn.Module, torch.nn.Module, object, object, ELBO]:
    """``(model, guide, weight optimizer, architecture optimizer, ELBO)`` of a resolved config over ``supernet``.

    Build it inside the param store scope the search will run in (:meth:`SearchParts.activate`).
    """
    c = config
    model, guide = build_pair(spec, supernet, space, c["method_options"], c["guide"], c["guide_args"])
    guide.to(next(supernet.parameters()).device)
    weight_optim = weight_optimizer(c)
    arch_optim = c["arch_optim"]
    if isinstance(arch_optim, str):
        arch_optim = arch_optimizer(arch_optim, c["arch_lr"], c["arch_weight_decay"], model, c["arch_optim_args"])
    elif isinstance(arch_optim, NGVI):
        arch_optim.bind(model)
    if isinstance(arch_optim, NGVI):
        arch_optim.check_guide(guide)
    elbo = c["elbo"]
    loss = make_elbo(elbo, c["elbo_args"]) if isinstance(elbo, str) else elbo() if isinstance(elbo, type) else elbo
    return model, guide, weight_optim, arch_optim, loss


def build_search(config: Resolved | SearchConfig | Mapping | str | None = None, **overrides) -> SearchParts:
    """Build the parts of a search resolved by :func:`resolve_search` (anything else, with flat ``overrides``, is
    resolved first); see :func:`pyronas.api.search`."""
    c, spec, space = config if isinstance(config, Resolved) else resolve_search(config, **overrides)
    table = NB201Table(c["benchmark"]) if c["benchmark"] is not None else None
    world = join_world(c["distributed"], c["device"])  # rank 0 of 1 unless data-parallel
    c = c.replace(seed=world.agree(c["seed"]))
    seed, device = c["seed"], world.device
    data = load_dataset(c["dataset"], c["data_dir"], download=c["download"], image_size=c["image_size"])
    weights_half, arch_half = split_halves(data, size=c["train_size"])
    if c["batch_size"] > len(weights_half):
        raise DataError(
            f"batch_size = {c['batch_size']} is more than the {len(weights_half)} images of each half of "
            f"{data.name}; lower --batch-size or raise --train-size"
        )
    shard = dict(rank=world.rank, world_size=world.size, channels_last=c["channels_last"])
    train = Batches(weights_half, c["batch_size"], device=device, seed=seed, **shard)
    valid = Batches(arch_half, c["batch_size"], device=device, seed=seed + 1, mean=train.mean, std=train.std,
                    draw=c["valid_batches"], **shard)  # fmt: skip

    seed_everything(seed)
    supernet = space.supernet(
        channels=c["channels"],
        cells_per_stage=c["cells_per_stage"],
        num_classes=data.num_classes,
        in_channels=data.in_channels,
    ).to(device)
    if c["single_path"] and not hasattr(type(supernet), "single_path"):
        raise ValueError(f"the {space.name} supernet cannot sample single paths; drop single_path (--single-path)")
    supernet.single_path = c["single_path"]
    if c["compile"]:
        supernet.compile()  # in place: parameter names, hence checkpoints, are unchanged
    parts = dict(
        config=c,
        spec=spec,
        space=space,
        supernet=supernet,
        train=train,
        valid=valid,
        arch_half=arch_half,
        weights_half=weights_half,
    )
    store = {"params": {}, "constraints": {}}
    with pyro.get_param_store().scope(store):
        model, guide, weight_optim, arch_optim, loss = build_inference(c, spec, space, supernet)
        world.broadcast_modules(model, guide)  # ranks start identical, whatever their seeds
    parts = SearchParts(
        **parts,
        model=model,
        guide=guide,
        weight_optim=world.wrap(weight_optim),
        arch_optim=world.wrap(arch_optim),
        loss=loss,
        table=table,
        world=world,
        store=store,
    )
    if c["cost"] is not None:
        parts.cost = search_cost(c["cost"], c["cost_weight"], c["budget"], space, search_size(parts), device)
        parts.model = parts.cost.prior(parts.model)
    return parts
