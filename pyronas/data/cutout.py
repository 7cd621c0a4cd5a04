"""Cutout: zero one random square patch per image, on whole batches.

References:
    [1] T. DeVries, G. W. Taylor. Improved Regularization of Convolutional Neural Networks with
        Cutout. arXiv:1708.04552, 2017.
"""

from __future__ import annotations

import torch


def cutout(images: torch.Tensor, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``images [B, C, H, W]`` with a ``length x length`` square set to 0 in every image (a new tensor).

    Each square is centred on a uniformly drawn pixel and clipped at the borders, as in [1]: rows
    ``y - length // 2 <= r < y + length // 2``. Applied to normalised images (after the mean is
    subtracted), 0 is the mean pixel. ``length = 0`` returns the images unchanged.
    """
    if length < 0:
        raise ValueError(f"cutout length must be >= 0, got {length}")
    if length == 0:
        return images
    b, _, h, w = images.shape
    device = images.device
    y = torch.randint(0, h, (b, 1), generator=generator, device=device)
    x = torch.randint(0, w, (b, 1), generator=generator, device=device)
    half = length // 2
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    in_rows = (rows >= y - half) & (rows < y + half)  # [B, H]
    in_cols = (cols >= x - half) & (cols < x + half)  # [B, W]
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return images * keep[:, None].to(images.dtype)
