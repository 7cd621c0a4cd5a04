"""Data-parallel search over the processes ``torchrun`` starts, on ``torch.distributed``.

Every rank holds the whole supernet and architecture distribution and takes a disjoint shard of
each global batch (:class:`~pyronas.data.Batches` with ``rank``/``world_size``). :class:`AllReduce`
wraps any Pyro optimizer so that it averages gradients across ranks before stepping: applied to
both the weight and the architecture optimizer, every rank steps identical parameters along the
gradient of the global batch, so all ranks keep the same posterior and derive the same cell.
With one seed on all ranks the architecture samples (pathwise draws from the guide) agree too.

P processes with global batch B then match one process with batch B up to floating-point
summation order, with one exception: BatchNorm in training mode normalises by the statistics of
each rank's shard (B / P images), not of the global batch, as in PyTorch's DDP without SyncBatchNorm.
Running statistics stay per-rank; they do not enter the search (training-mode BatchNorm uses batch
statistics), and rank 0's are checkpointed. Logged losses and accuracies are rank 0's shard's.

References:
    [1] S. Li et al. PyTorch Distributed: Experiences on Accelerating Data Parallel Training. VLDB 2020.
"""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyro
import torch
import torch.distributed as dist
from pyro.optim import PyroOptim

TORCHRUN_VARS = ("RANK", "WORLD_SIZE")


def launched_by_torchrun() -> bool:
    """Whether the environment variables ``torchrun`` sets for each process (``RANK``, ``WORLD_SIZE``) are present."""
    return all(name in os.environ for name in TORCHRUN_VARS)


def is_main_process() -> bool:
    """Rank 0 of the default process group, or the only process when there is none."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _flat_apply(tensors: Iterable[torch.Tensor], collective: Callable[[torch.Tensor], None]) -> None:
    """Run ``collective`` in place on one flat copy of ``tensors`` per (dtype, device), then copy back."""
    buckets: dict[tuple, list[torch.Tensor]] = {}
    for t in tensors:
        buckets.setdefault((t.dtype, t.device), []).append(t)
    for bucket in buckets.values():
        flat = torch.cat([t.detach().reshape(-1) for t in bucket])
        collective(flat)
        for t, chunk in zip(bucket, flat.split([t.numel() for t in bucket])):
            t.detach().copy_(chunk.view_as(t))


def broadcast_(tensors: Iterable[torch.Tensor], src: int = 0) -> None:
    """Overwrite ``tensors`` (same shapes and order on every rank) with rank ``src``'s values."""
    _flat_apply(tensors, lambda flat: dist.broadcast(flat, src))


def all_reduce_mean_(tensors: Iterable[torch.Tensor]) -> None:
    """Replace ``tensors`` (same shapes and order on every rank) by their mean over ranks."""
    world_size = dist.get_world_size()

    def mean(flat: torch.Tensor) -> None:
        dist.all_reduce(flat)  # a sum: Gloo has no average
        flat.div_(world_size)

    _flat_apply(tensors, mean)


class AllReduce(PyroOptim):
    """A Pyro optimizer whose gradients are averaged across ranks (one flat all-reduce) before it steps.

    Wraps any :class:`~pyro.optim.PyroOptim` (:class:`~pyronas.optim.GroupedOptim`, :class:`~pyronas.optim.NGVI`,
    Pyro's own): the wrapped optimizer sees the global batch's gradient on every rank, so clipping,
    weight decay, Adam moments and NGVI's curvature estimate (linear in the averaged location and
    scale gradients) are computed identically everywhere. Parameters seen for the first time are
    broadcast from rank 0, so lazily created ones agree too. Parameters are ordered by their name
    in Pyro's param store (SVI hands them over as a set); every rank must step the same ones.
    ``get_state``/``set_state`` and any other attribute (``lr``, ``step``) are the wrapped optimizer's.

    References:
        [1] Pyro's ``HorovodOptimizer`` (pyro.optim.horovod), the precedent for wrapping a PyroOptim.
    """

    def __init__(self, optim: PyroOptim):
        if not isinstance(optim, PyroOptim):
            raise TypeError(f"AllReduce wraps a pyro.optim.PyroOptim, got {type(optim).__name__}")
        self.optim = optim
        # id -> weak reference of every parameter already broadcast; tensors replaced at a new stage drop out
        self._seen: dict[int, weakref.ref] = {}

    def __getattr__(self, name: str):
        if name == "optim":  # not yet set (unpickling): avoid recursion
            raise AttributeError(name)
        return getattr(self.optim, name)

    def __call__(self, params: Iterable[torch.Tensor], *args, **kwargs) -> None:
        store = pyro.get_param_store()
        named = [(store.param_name(p), p) for p in params]
        if any(name is None for name, _ in named):
            raise ValueError("AllReduce steps only parameters of Pyro's global param store (got an unnamed tensor)")
        params = [p for _, p in sorted(named, key=lambda item: item[0])]
        new = [p for p in params if (ref := self._seen.get(id(p))) is None or ref() is not p]
        if new:
            with torch.no_grad():
                broadcast_(new)
            self._seen = {i: ref for i, ref in self._seen.items() if ref() is not None}
            self._seen.update((id(p), weakref.ref(p)) for p in new)
        also = list(kwargs.get("clip_also", ()))  # gradients a clip counts (GroupedOptim): averaged alike
        all_reduce_mean_(p.grad for p in [*params, *also] if p.grad is not None)
        self.optim(params, *args, **kwargs)

    def get_state(self) -> dict:
        return self.optim.get_state()

    def set_state(self, state: dict) -> None:
        self.optim.set_state(state)


@dataclass(frozen=True)
class World:
    """This process's place in a search: rank ``rank`` of ``size`` processes, computing on ``device``."""

    rank: int = 0
    size: int = 1
    device: str = "cpu"
    distributed: bool = False

    @property
    def is_main(self) -> bool:
        """Whether this process writes logs, checkpoints and results (rank 0)."""
        return self.rank == 0

    def agree(self, value):
        """Rank 0's ``value`` (any picklable object), on every rank."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def broadcast_modules(self, *modules: torch.nn.Module) -> None:
        """Give every rank rank 0's parameters and buffers of ``modules`` (each tensor once)."""
        if not self.distributed:
            return
        tensors = {id(t): t for m in modules for t in (*m.parameters(), *m.buffers())}
        with torch.no_grad():
            broadcast_(tensors.values())

    def average_(self, tensors: list[torch.Tensor]) -> None:
        """Replace ``tensors`` (same shapes and order on every rank) by their means over the ranks."""
        if self.distributed:
            all_reduce_mean_(tensors)

    def wrap(self, optim: PyroOptim) -> PyroOptim:
        """``optim`` with gradients averaged across ranks (:class:`AllReduce`); unchanged for one process."""
        return AllReduce(optim) if self.distributed else optim


def _device_of_rank(device: str, rank: int) -> str:
    """One GPU per process: a bare ``"cuda"`` becomes ``cuda:LOCAL_RANK``; other devices are kept."""
    if device != "cuda":
        return device
    local = int(os.environ.get("LOCAL_RANK", rank % max(1, torch.cuda.device_count())))
    torch.cuda.set_device(local)
    return f"cuda:{local}"


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def join_world(distributed: bool | None, device: str = "cpu") -> World:
    """The :class:`World` of this process, joining (or creating) the default process group if distributed.

    ``distributed=None`` means: distributed when launched by ``torchrun``. A new group uses NCCL on
    CUDA and Gloo on the CPU and is initialised from torchrun's environment variables; an existing
    default group (e.g. set up by the caller) is reused.
    """
    if distributed is None:
        distributed = launched_by_torchrun()
    if not distributed:
        return World(device=device)
    if not dist.is_available():
        raise ValueError("this PyTorch build has no torch.distributed; run without --distributed")
    if not dist.is_initialized():
        if not launched_by_torchrun():
            raise ValueError(
                "a distributed search needs the RANK and WORLD_SIZE variables torchrun sets; "
                "launch it with `torchrun --nproc_per_node=P -m pyronas search ...`"
            )
        device = _device_of_rank(device, int(os.environ["RANK"]))
        dist.init_process_group("nccl" if torch.device(device).type == "cuda" else "gloo")
        atexit.register(_destroy)
    else:
        device = _device_of_rank(device, dist.get_rank())
    return World(rank=dist.get_rank(), size=dist.get_world_size(), device=device, distributed=True)
