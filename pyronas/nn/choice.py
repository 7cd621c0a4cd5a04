"""Decisions marked inside a user's own network: :class:`Choice` among candidate modules, :class:`WidthChoice`
among channel widths.

The modules hold no Pyro code and no architecture parameters: a search hands each decision its mixing
weights ``[K]`` (:meth:`set_weights`, or the :func:`mixing` context), and the decision mixes its candidates'
outputs with them. Decisions that share a ``label`` are one decision: the search gives them the same weights.
:meth:`fix` turns a decision into its one chosen candidate (the derived network).

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019 (mixed ops).
    [2] A. Wan et al. FBNetV2: Differentiable Neural Architecture Search for Spatial and Channel Dimensions.
        CVPR 2020 (channel masking).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import nn


class Decision(nn.Module):
    """What :class:`Choice` and :class:`WidthChoice` share: named candidates, a label, mixing weights or a fix."""

    def __init__(self, names: Sequence[str], label: str | None):
        super().__init__()
        names = tuple(str(n) for n in names)
        if len(names) < 1:
            raise ValueError("a choice needs at least one candidate")
        if len(set(names)) != len(names):
            raise ValueError(f"candidate names must be unique, got {list(names)}")
        self.candidate_names = names
        self.label = label
        self._weights: torch.Tensor | None = None
        self._fixed: int | None = None

    def set_weights(self, weights: torch.Tensor | None) -> None:
        """Mixing weights ``[K]`` (one per candidate, in order) for the next forwards; ``None`` clears them."""
        if weights is not None and tuple(weights.shape) != (len(self.candidate_names),):
            raise ValueError(
                f"choice {self.label!r} has {len(self.candidate_names)} candidates; got weights of shape "
                f"{list(weights.shape)}"
            )
        self._weights = weights

    def fix(self, candidate: str | None) -> None:
        """Use only ``candidate`` from now on (no weights needed); ``None`` returns to mixing."""
        if candidate is None:
            self._fixed = None
            return
        if candidate not in self.candidate_names:
            names = list(self.candidate_names)
            raise ValueError(f"choice {self.label!r} has no candidate {candidate!r}; one of {names}")
        self._fixed = self.candidate_names.index(candidate)

    @property
    def fixed(self) -> str | None:
        """The candidate this decision is fixed to, or ``None`` while it mixes."""
        return None if self._fixed is None else self.candidate_names[self._fixed]

    def _active(self) -> tuple[torch.Tensor, list[int]]:
        """The weights and the candidates to compute (weight not exactly 0); a clear error without weights."""
        if self._weights is None:
            raise RuntimeError(
                f"choice {self.label!r} has no mixing weights: run the network through its space's supernet "
                "(forward(images, weights)), set them with set_weights(), or fix() the choice"
            )
        nonzero = (self._weights.detach() != 0).tolist()  # one host sync per decision
        return self._weights, [k for k, keep in enumerate(nonzero) if keep]

    def extra_repr(self) -> str:
        fixed = "" if self._fixed is None else f", fixed={self.fixed!r}"
        return f"label={self.label!r}, candidates={list(self.candidate_names)}{fixed}"


class Choice(Decision):
    """One decision among named candidate modules whose outputs have the same shape.

    ``forward(x) = sum_k w_k * candidate_k(x)`` over the candidates whose weight is not exactly 0 (pruned or
    one-hot weights skip work); a fixed choice returns ``candidate(x)``. Candidates: op types, kernel sizes,
    a block or ``nn.Identity()`` (depth), a zero module ("drop").

    Args:
        candidates: ``{name: module}``, in the order of the mixing weights.
        label: the decision's name; choices with the same label are one decision (default: the module's
            path in the network, set by :class:`~pyronas.spaces.ModuleSpace`).
    """

    def __init__(self, candidates: Mapping[str, nn.Module], label: str | None = None):
        super().__init__(list(candidates), label)
        self.candidates = nn.ModuleList(candidates.values())  # a list: any string can name a candidate

    def candidate(self, k: int | str) -> nn.Module:
        """Candidate ``k`` (its index or its name)."""
        return self.candidates[k if isinstance(k, int) else self.candidate_names.index(k)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fixed is not None:
            return self.candidate(self._fixed)(x)
        weights, active = self._active()
        if not active:  # every weight is 0: the output is 0, shaped as the first candidate's
            return self.candidate(0)(x).mul(0.0)
        out = None
        for k in active:
            term = weights[k] * self.candidate(k)(x)
            out = term if out is None else out + term
        return out


class WidthChoice(Decision):
    """A width decision placed after a layer: keep the first ``w`` of ``max_channels`` channels, ``w`` in ``widths``.

    ``forward(x) = sum_k w_k * mask_k * x`` with ``mask_k`` one on the first ``widths[k]`` channels (dim 1),
    computed as one combined mask ``sum_k w_k mask_k`` [2]; a fixed choice zeroes the channels past its width.
    Candidates are named by their widths (``"8"``, ``"16"``).

    Args:
        max_channels: channels of the input (dim 1).
        widths: candidate widths, each in ``[1, max_channels]``.
        label: as for :class:`Choice`.
    """

    def __init__(self, max_channels: int, widths: Sequence[int], label: str | None = None):
        widths = [int(w) for w in widths]
        if any(not 1 <= w <= max_channels for w in widths):
            raise ValueError(f"widths must lie in [1, {max_channels}], got {widths}")
        super().__init__([str(w) for w in widths], label)
        self.max_channels, self.widths = int(max_channels), tuple(widths)
        masks = (torch.arange(max_channels).unsqueeze(0) < torch.tensor(widths).unsqueeze(1)).float()
        self.register_buffer("masks", masks, persistent=False)  # [K, C]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fixed is not None:  # no Python checks on x here: torch.fx traces a fixed choice (export)
            mask = self.masks[self._fixed].to(x.dtype)
        else:
            if x.shape[1] != self.max_channels:
                raise ValueError(f"width choice {self.label!r} expects {self.max_channels} channels, got {x.shape[1]}")
            weights, active = self._active()
            mask = (weights[active].unsqueeze(-1).to(x.dtype) * self.masks[active].to(x.dtype)).sum(0)
        return (x.movedim(1, -1) * mask).movedim(-1, 1)  # mask over dim 1, any number of trailing dims


def decisions(network: nn.Module) -> Iterator[tuple[str, Decision]]:
    """``(label, decision)`` of every decision in ``network``, in module order (label: its own, else its path)."""
    for path, module in network.named_modules():
        if isinstance(module, Decision):
            yield (module.label if module.label is not None else path), module


@contextlib.contextmanager
def mixing(network: nn.Module, weights: Mapping[str, torch.Tensor]) -> Iterator[nn.Module]:
    """Context in which every decision of ``network`` mixes with ``weights[label]`` ``[K]``; cleared on exit."""
    found = list(decisions(network))
    missing = sorted({label for label, _ in found} - set(weights))
    if missing:
        raise ValueError(f"no mixing weights for choice(s) {', '.join(map(repr, missing))}")
    try:
        for label, decision in found:
            decision.set_weights(weights[label])
        yield network
    finally:
        for _, decision in found:
            decision.set_weights(None)


__all__ = ["Choice", "Decision", "WidthChoice", "decisions", "mixing"]
