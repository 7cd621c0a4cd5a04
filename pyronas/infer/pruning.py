"""Op masks: which ops of each edge survive pruning between search stages.

A mask is a bool tensor ``[E, K]`` per cell type (true = kept), the same shape as the mixing
weights, so parameters, checkpoints, logs and diagnostics keep their ``[E, K]`` layout. Models
and guides that support pruning hold an :class:`OpMask` and define ``prune(keep)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


def top_k_keep(probs: Mapping[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Bool masks ``{cell: [E, K]}`` of each edge's ``k`` most probable ops (ops of probability 0 never kept)."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"keep_ops must be a positive integer, got {k!r}")
    out = {}
    for cell, p in probs.items():
        scores = p.detach().masked_fill(p <= 0, -torch.inf)
        index = scores.topk(min(k, p.shape[-1]), dim=-1).indices
        keep = torch.zeros_like(p, dtype=torch.bool).scatter(-1, index, True)
        out[cell] = keep & (scores > -torch.inf)
    return out


class OpMask(nn.Module):
    """Bool buffers ``{cell: [E, K]}``, all true until :meth:`prune`; saved in the owner's ``state_dict``.

    Checkpoints written before masks existed load as unpruned (the missing buffers read as all true).
    """

    def __init__(self, arch_shape: Mapping[str, tuple[int, int]]):
        super().__init__()
        self.cells = tuple(arch_shape)
        for cell, shape in arch_shape.items():
            self.register_buffer(cell, torch.ones(shape, dtype=torch.bool))
        self.register_load_state_dict_pre_hook(_fill_missing_masks)

    def __getitem__(self, cell: str) -> torch.Tensor:
        return getattr(self, cell)

    def prune(self, keep: Mapping[str, torch.Tensor]) -> None:
        """Keep only the ops that are true in both the current mask and ``keep`` (one bool ``[E, K]`` per cell)."""
        for cell in self.cells:
            mask = self[cell]
            new = torch.as_tensor(keep[cell], dtype=torch.bool, device=mask.device)
            if new.shape != mask.shape:
                raise ValueError(f"keep[{cell!r}] must have shape {list(mask.shape)}, got {list(new.shape)}")
            new = mask & new
            if not bool(new.any(-1).all()):
                raise ValueError(f"keep[{cell!r}] prunes every op of an edge; keep at least one per edge")
            mask.copy_(new)

    def pruned(self) -> bool:
        """Whether any op of any cell is pruned."""
        return not all(bool(self[cell].all()) for cell in self.cells)


def _fill_missing_masks(module: OpMask, state_dict: dict, prefix: str, *_args) -> None:
    for cell in module.cells:
        state_dict.setdefault(prefix + cell, torch.ones_like(module[cell]))
