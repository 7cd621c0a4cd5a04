"""Bilevel stochastic variational inference over one model+guide pair.

The supernet's weights (the parameters that :func:`~pyronas.infer.primitives.classify`
registers under ``"supernet"``) are stepped on training batches; every other parameter of the
model and guide (the architecture distribution, any hyperparameters) on validation batches, including
those that no Pyro site would register by itself (:class:`~pyronas.infer.params.ParameterSites`).
Each group gets its own :class:`pyro.infer.SVI` with its own Pyro optimizer and the same ELBO,
so any ELBO and any Pyro optimizer can be swapped in. This is first-order DARTS-style
alternation: no unrolled second-order gradient.

With an ELBO that provides ``tensor_loss`` (:class:`~pyronas.infer.elbo.DeviceTrace_ELBO`) a step
returns its loss as a 0-d tensor and never synchronises with the device; ``amp`` runs the model
and guide under ``torch.autocast`` (e.g. ``torch.bfloat16`` on a GPU).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import pyro
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.elbo import ELBO
from pyro.infer.util import zero_grads
from pyro.optim import PyroOptim

from pyronas.infer.params import ParameterSites
from pyronas.infer.primitives import LOGITS, SUPERNET
from pyronas.infer.site_recorder import SiteRecorder
from pyronas.names import CLIP_SPANS

KEPT_GRADS = "last_step_grads"  # the key of _KeepGrads' gradients in the architecture optimizer's state


def is_weight(name: str) -> bool:
    """Whether a Pyro parameter name belongs to the supernet's weights (the params ``pyro.module(SUPERNET, ...)``
    registers); the search itself tells weights apart by tensor identity (:class:`BilevelSVI`)."""
    return name.split(".", 1)[0].startswith(SUPERNET) and name != SUPERNET


def _only_params(fn: Callable, keep: Callable[[dict], bool]) -> Callable:
    """``fn`` with every param site whose message ``keep`` rejects hidden from SVI."""
    return poutine.block(fn, hide_fn=lambda msg: msg["type"] == "param" and not keep(msg))


@contextmanager
def _frozen(params: Iterable[torch.Tensor]) -> Iterator[None]:
    """Turn off ``requires_grad`` of ``params`` (those that have it) for the duration of the block."""
    frozen = [p for p in params if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


class _ClipAlso(PyroOptim):
    """``optim`` called with ``clip_also=tensors``: their gradients count in its clip, but are not stepped."""

    def __init__(self, optim: PyroOptim, tensors: list[torch.Tensor]):
        self.optim, self.tensors = optim, tensors

    def __call__(self, params: Iterable[torch.Tensor], *args, **kwargs) -> None:
        self.optim(params, *args, clip_also=self.tensors, **kwargs)


class _KeepGrads(PyroOptim):
    """``optim`` that keeps the gradients of its last step (by param name) and saves them with its state."""

    def __init__(self, optim: PyroOptim):
        self.optim, self.grads = optim, {}

    def __getattr__(self, name: str):
        if name == "optim":
            raise AttributeError(name)
        return getattr(self.optim, name)

    def __call__(self, params: Iterable[torch.Tensor], *args, **kwargs) -> None:
        params = list(params)
        self.optim(params, *args, **kwargs)
        store = pyro.get_param_store()
        named = ((store.param_name(p), p) for p in params if p.grad is not None)
        self.grads = {name: p.grad.detach().clone() for name, p in named if name is not None}

    def get_state(self) -> dict:
        return {**self.optim.get_state(), KEPT_GRADS: dict(self.grads)}

    def set_state(self, state: dict) -> None:
        state = dict(state)
        self.grads = dict(state.pop(KEPT_GRADS, {}))
        self.optim.set_state(state)


class BilevelSVI:
    """Two SVI objects sharing a model and a guide: one for weights, one for the rest.

    Each step freezes the other group (``requires_grad`` off), so autograd computes only the gradients
    that step uses: no weight gradients in an architecture step, and in a weight step the mixing weights
    are constants, as in a plain DARTS loop that samples them under ``no_grad``.

    Args:
        model, guide: the method's pair; the model must call ``classify``.
        supernet: the supernet module inside the model (frozen during architecture steps so no
            weight gradients are computed there).
        weight_optim, arch_optim: Pyro optimizers for the two groups.
        loss: any Pyro ELBO (default ``Trace_ELBO()``).
        amp: autocast dtype for model and guide (``None``: full precision, the default).
        clip_span: what the weight optimizer's gradient-norm clip spans (``clip_also`` of
            :class:`~pyronas.optim.GroupedOptim`). ``"weights"``; ``"weights+arch"``: the weight step also
            computes the architecture parameters' gradients of the training loss and counts them (only the
            weights are stepped), as a loop that clips ``model.parameters()`` after zeroing every gradient
            (official DrNAS); ``"weights+arch-accumulated"``: those gradients also hold the last architecture
            step's, as a loop that zeroes only the weights' gradients before its weight step (NB201's DARTS-V1);
            they are kept with the architecture optimizer's state, so a resumed search repeats this too. A weight
            optimizer without ``clip_norm`` (no clip) takes plain weight steps whatever the span.
    """

    def __init__(
        self,
        model: Callable,
        guide: Callable,
        supernet: torch.nn.Module,
        weight_optim: PyroOptim,
        arch_optim: PyroOptim,
        loss: ELBO | None = None,
        amp: torch.dtype | None = None,
        clip_span: str = "weights",
    ):
        if clip_span not in CLIP_SPANS:
            raise ValueError(f"clip_span must be one of {', '.join(CLIP_SPANS)}, got {clip_span!r}")
        self.model, self.guide, self.supernet = model, guide, supernet
        self.amp = amp
        self.loss = loss if loss is not None else Trace_ELBO()
        self._weights: set[int] | None = None
        self.clip_arch = clip_span != "weights" and getattr(weight_optim, "clip_norm", None) is not None
        if self.clip_arch and clip_span == "weights+arch-accumulated":
            arch_optim = _KeepGrads(arch_optim)
        self.weight_optim, self.arch_optim = weight_optim, arch_optim
        self._clip_also: list[torch.Tensor] = []
        step_optim = _ClipAlso(weight_optim, self._clip_also) if self.clip_arch else weight_optim
        self.weight_svi = SVI(_only_params(model, self.is_weight), _only_params(guide, self.is_weight), step_optim,
                              self.loss)  # fmt: skip
        not_weight = lambda msg: not self.is_weight(msg)  # noqa: E731
        # parameters no Pyro site would register (a PyroModule held by a plain module, a plain nn.Parameter)
        # are emitted as sites by the architecture step's model and guide, so its optimizer steps them too
        self.sites = ParameterSites(model, guide, exclude=[supernet])
        arch_model, arch_guide = self.sites.wrap(model, "model"), self.sites.wrap(guide, "guide")
        self.arch_svi = SVI(
            _only_params(arch_model, not_weight), _only_params(arch_guide, not_weight), self.arch_optim, self.loss
        )

    def is_weight(self, msg: dict) -> bool:
        """Whether a param site registers one of the supernet's parameters, by identity rather than by name.

        ``pyro.module`` hands each module parameter to ``pyro.param`` as its initial value (``msg["args"][1]``).
        """
        if self._weights is None:
            self._weights = {id(p) for p in self.supernet.parameters()}
        return len(msg["args"]) > 1 and id(msg["args"][1]) in self._weights

    def _step(self, svi: SVI, images: torch.Tensor, labels: torch.Tensor) -> tuple[float | torch.Tensor, torch.Tensor]:
        self._weights = None  # re-read each step: a search stage may have replaced supernet parameters
        return self._svi_step(svi, images, labels)

    def _svi_step(
        self, svi: SVI, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[float | torch.Tensor, torch.Tensor]:
        recorder = SiteRecorder(LOGITS)
        device = images.device.type
        with recorder, torch.autocast(device, dtype=self.amp or torch.bfloat16, enabled=self.amp is not None):
            if hasattr(self.loss, "tensor_loss"):
                loss = self._tensor_step(svi, images, labels)
            else:
                loss = svi.step(images, labels)
        for module in (self.model, self.guide):
            if isinstance(module, torch.nn.Module):
                module.zero_grad(set_to_none=True)
        return loss, recorder.value.detach()

    def _tensor_step(self, svi: SVI, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``svi.step`` without reading the loss back to the host: backward, optimizer step, zero grads."""
        with poutine.trace(param_only=True) as capture:
            loss = self.loss.tensor_loss(svi.model, svi.guide, images, labels)
            loss.backward()
        params = {site["value"].unconstrained() for site in capture.trace.nodes.values()}
        svi.optim(params)
        zero_grads(params)
        return loss.detach()

    def _arch_params(self) -> list[torch.Tensor]:
        """Every existing parameter that is not a supernet weight: of the model and guide modules, and
        (unconstrained) of the Pyro param store."""
        weights = {id(p) for p in self.supernet.parameters()}
        params = [p for _, p in pyro.get_param_store().named_parameters()]
        for module in (self.model, self.guide):
            if isinstance(module, torch.nn.Module):
                params += module.parameters()
        unique = {id(p): p for p in params if id(p) not in weights}
        return list(unique.values())

    def step_weights(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float | torch.Tensor, torch.Tensor]:
        """One SVI step on the supernet weights, everything else frozen (or, with ``clip_arch``, not stepped);
        returns (loss, logits)."""
        if not self.clip_arch:
            with _frozen(self._arch_params()):
                return self._step(self.weight_svi, images, labels)
        self._clip_also[:] = [p for p in self._arch_params() if p.requires_grad]
        if isinstance(self.arch_optim, _KeepGrads):  # the last architecture step's gradients, to accumulate onto
            kept, self.arch_optim.grads = self.arch_optim.grads, {}
            store = pyro.get_param_store()
            for p in self._clip_also:
                if store.param_name(p) in kept:
                    p.grad = kept[store.param_name(p)].clone()
        try:
            return self._step(self.weight_svi, images, labels)
        finally:
            for p in self._clip_also:
                p.grad = None
            self._clip_also.clear()

    def step_arch(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float | torch.Tensor, torch.Tensor]:
        """One SVI step on everything but the weights, weights frozen; returns (loss, logits)."""
        with _frozen(self.supernet.parameters()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*was not registered in the param store.*")
            return self._step(self.arch_svi, images, labels)
