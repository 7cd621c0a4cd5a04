"""A Pyro optimizer that drives *one* torch optimizer over every parameter SVI hands it.

Pyro's :class:`~pyro.optim.PyroOptim` builds a separate torch optimizer per parameter tensor,
which rules out global gradient-norm clipping and costs a Python loop per tensor per step.
:class:`GroupedOptim` keeps Pyro's interface (``__call__(params)``, ``get_state``,
``set_state``) but groups all parameters, clips their joint gradient norm and steps an
optional learning-rate scheduler once per :meth:`step` (an epoch, in the search loop).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import pyro
import torch
from pyro.optim import PyroOptim


class GroupedOptim(PyroOptim):
    """One ``torch.optim.Optimizer`` over all parameters, with optional clipping and scheduling.

    Args:
        optim_constructor: a ``torch.optim.Optimizer`` class, e.g. ``torch.optim.SGD``.
        optim_args: keyword arguments for it.
        clip_norm: if given, clip the gradient norm of all parameters jointly to this value.
        scheduler_constructor: optional ``torch.optim.lr_scheduler`` class; advanced by :meth:`step`.
        scheduler_args: keyword arguments for the scheduler.
    """

    def __init__(
        self,
        optim_constructor: Callable[..., torch.optim.Optimizer],
        optim_args: dict,
        *,
        clip_norm: float | None = None,
        scheduler_constructor: Callable | None = None,
        scheduler_args: dict | None = None,
    ):
        super().__init__(optim_constructor, dict(optim_args))
        self.clip_norm = clip_norm
        self.scheduler_constructor = scheduler_constructor
        self.scheduler_args = dict(scheduler_args or {})
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler = None
        self._names: list[str] = []
        self._seen: dict[torch.Tensor, int] = {}  # parameter -> its position in the optimizer (name order)
        self._pending: dict | None = None

    def __call__(self, params: Iterable[torch.Tensor], *args, clip_also: Iterable[torch.Tensor] = (), **kwargs) -> None:
        """Step ``params``; the clipped gradient norm also spans ``clip_also`` (scaled with them, not stepped)."""
        params = list(params)
        new = [p for p in params if p not in self._seen]
        if new:
            self._add(new)
        # SVI hands over a set, ordered by memory address; a fixed order makes the clipped norm's rounding,
        # hence the whole search, the same in every run
        params.sort(key=self._seen.__getitem__)
        if self.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_([*params, *clip_also], self.clip_norm)
        self.optimizer.step(*args, **kwargs)

    def _add(self, params: list[torch.Tensor]) -> None:
        store = pyro.get_param_store()
        named = sorted(
            ((store.param_name(p) or f"#{len(self._names) + i}", p) for i, p in enumerate(params)),
            key=lambda item: item[0],
        )
        self._names.extend(name for name, _ in named)
        for _, p in named:
            self._seen[p] = len(self._seen)
        tensors = [p for _, p in named]
        if self.optimizer is None:
            self.optimizer = self.pt_optim_constructor(tensors, **self.pt_optim_args)
            if self.scheduler_constructor is not None:
                self.scheduler = self.scheduler_constructor(self.optimizer, **self.scheduler_args)
        else:
            self.optimizer.add_param_group({"params": tensors})
        self._load_pending()

    def _load_pending(self) -> None:
        """Load state given to :meth:`set_state` before the optimizer existed, once all its parameters are seen."""
        if self._pending is not None and self._pending["names"] == self._names:
            self.optimizer.load_state_dict(self._pending["optimizer"])
            if self.scheduler is not None and self._pending.get("scheduler") is not None:
                self.scheduler.load_state_dict(self._pending["scheduler"])
            self._pending = None

    def step(self) -> None:
        """Advance the learning-rate schedule by one step (the search loop calls it per epoch)."""
        if self.scheduler is not None:
            self.scheduler.step()

    @property
    def lr(self) -> float:
        """Current learning rate of the first parameter group (the initial one before any step)."""
        if self.optimizer is None:
            groups = (self._pending or {}).get("optimizer", {}).get("param_groups")
            return float(groups[0]["lr"] if groups else self.pt_optim_args.get("lr", float("nan")))
        return float(self.optimizer.param_groups[0]["lr"])

    def get_state(self) -> dict:
        if self.optimizer is None:
            return dict(self._pending or {})
        return {
            "names": list(self._names),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
        }

    def set_state(self, state: dict) -> None:
        if not state:
            return
        if self.optimizer is not None and state["names"] == self._names:
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None and state.get("scheduler") is not None:
                self.scheduler.load_state_dict(state["scheduler"])
        else:
            self._pending = dict(state)

    def replace_params(
        self, params: Mapping[str, torch.Tensor | None], carry: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> None:
        """Swap parameters, by Pyro name, for new tensors (``None``: drop them), keeping everyone else's state.

        A swapped parameter's state tensors (e.g. SGD momentum) go through ``carry``, which maps them
        to the new shape; scalar state (step counts) is kept; without ``carry`` its state is dropped.
        The torch optimizer is rebuilt on the next step from that state, as when resuming from a
        checkpoint, so a search that swaps parameters and one resumed after the swap step alike.
        """
        state = self.get_state()
        self.optimizer, self.scheduler, self._names, self._seen = None, None, [], {}
        self._pending = _replace_in_state(state, params, carry) if state else None


def _replace_in_state(
    state: dict, params: Mapping[str, torch.Tensor | None], carry: Callable[[torch.Tensor], torch.Tensor] | None
) -> dict:
    """:meth:`GroupedOptim.get_state` output with parameters dropped or their state carried (see ``replace_params``)."""
    names, optim = state["names"], state["optimizer"]
    index: dict[int, int] = {}  # old position -> new position
    for i, name in enumerate(names):
        if name not in params or params[name] is not None:
            index[i] = len(index)
    per_param = {}
    for i, entry in optim["state"].items():
        if i not in index or (names[i] in params and carry is None):
            continue
        if names[i] in params:
            entry = {k: carry(v) if torch.is_tensor(v) and v.dim() > 0 else v for k, v in entry.items()}
        per_param[index[i]] = entry
    groups = [
        {**group, "params": [index[i] for i in group["params"] if i in index]}
        for group in optim["param_groups"]
        if any(i in index for i in group["params"])
    ]
    kept = [name for i, name in enumerate(names) if i in index]
    return {**state, "names": kept, "optimizer": {"state": per_param, "param_groups": groups}}
