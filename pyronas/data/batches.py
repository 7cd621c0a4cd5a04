"""Minibatches from in-memory images, normalised and augmented on whole batches.

No worker processes and no per-image Python: a batch is one gather from a uint8 tensor (on the
GPU when the data lives there), a random crop with zero padding and a horizontal flip done on
the whole batch, then per-channel normalisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pyronas.data.datasets import ImageData
from pyronas.names import DRAWS


def _mix(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + 12_345) % (2**62)


class Batches:
    """Shuffled minibatches of ``(images float [B, C, H, W], labels int64 [B])``.

    Each epoch's order and augmentation depend only on ``(seed, epoch)``, set with
    :meth:`set_epoch`, so a resumed run sees exactly the batches an uninterrupted one does.

    Sharding (data-parallel search): with ``world_size = P`` every process draws the same global
    batch of ``global_batch_size`` images (and the same augmentation for all of them) and yields
    only its ``rank``-th contiguous slice of ``batch_size = global_batch_size / P`` images, so the
    shards of the P ranks, concatenated in rank order, are exactly the batch one process yields.

    Args:
        data: the images.
        batch_size: images per global batch; the last incomplete batch is dropped.
        augment: random crop (zero padding of ``pad`` pixels, default ``H // 8``) and, where
            ``data.flip``, horizontal flip.
        mean, std: per-channel statistics of ``images / 255``; computed from ``data`` if omitted.
        device: where batches (and the stored images) live.
        seed: base seed of the shuffling and augmentation.
        channels_last: return batches in ``torch.channels_last`` memory format (faster convolutions
            on CPU and GPU; the values are the same).
        rank, world_size: this process's shard of each global batch; ``batch_size`` must be a
            multiple of ``world_size``.
        draw: ``"epoch"``: each epoch is one shuffled pass; ``"random"``: every batch is a fresh random
            draw of distinct images (the first batch of a newly shuffled loader); ``"random-replace"``:
            every image of every batch is drawn at random, with replacement. An epoch has the same number
            of batches either way.

    Attributes:
        batch_size: images per yielded batch (this rank's shard); ``global_batch_size`` across ranks.
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int,
        *,
        augment: bool = True,
        pad: int | None = None,
        mean: torch.Tensor | None = None,
        std: torch.Tensor | None = None,
        device: str | torch.device = "cpu",
        seed: int = 0,
        channels_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        draw: str = "epoch",
    ):
        if draw not in DRAWS:
            raise ValueError(f"unknown draw {draw!r}; choose one of: {', '.join(DRAWS)}")
        if batch_size < 1 or batch_size > len(data):
            raise ValueError(f"batch size must lie in 1..{len(data)} for {data.name}, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in 0..world_size-1 with world_size >= 1, got rank {rank} of {world_size}")
        if batch_size % world_size:
            raise ValueError(
                f"batch size {batch_size} is not divisible by the {world_size} processes; "
                f"choose a multiple of {world_size} (it is the global batch, split evenly across ranks)"
            )
        self.device = torch.device(device)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.global_batch_size = batch_size
        self.batch_size = batch_size // world_size
        self.rank = rank
        self.augment = augment
        self.flip = data.flip
        self.pad = data.images.shape[-1] // 8 if pad is None else pad
        if mean is None or std is None:
            pixels = data.images.float().div_(255).transpose(0, 1).flatten(1)
            mean, std = pixels.mean(1), pixels.std(1).clamp_min(1e-3)
        self.mean = mean.to(self.device).view(1, -1, 1, 1)
        self.std = std.to(self.device).view(1, -1, 1, 1)
        self.seed = seed
        self.draw = draw
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.generator = torch.Generator(device=self.device)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Fix the shuffling and augmentation of ``epoch``."""
        self.generator.manual_seed(_mix(self.seed, epoch))

    def __len__(self) -> int:
        return len(self.labels) // self.global_batch_size

    def __iter__(self):
        n, size = len(self.labels), self.global_batch_size
        order = torch.randperm(n, generator=self.generator, device=self.device) if self.draw == "epoch" else None
        mine = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        for i in range(len(self)):
            if order is not None:
                index = order[i * size : (i + 1) * size]
            elif self.draw == "random":
                index = torch.randperm(n, generator=self.generator, device=self.device)[:size]
            else:
                index = torch.randint(0, n, (size,), generator=self.generator, device=self.device)
            draws = self._draw(size)  # augmentation of the whole global batch: the same on every rank
            yield self.transform(self.images[index[mine]], draws[mine]), self.labels[index[mine]]

    def _offsets(self, n: int) -> torch.Tensor:
        """Random crop offsets ``[n, 2]`` (rows, columns) in ``0..2 pad``."""
        return torch.randint(0, 2 * self.pad + 1, (2, n), generator=self.generator, device=self.device).T

    def _draw(self, n: int) -> torch.Tensor:
        """Augmentation of ``n`` images, ``[n, 3]`` int64: crop offsets (rows, columns) and a flip flag (0/1).

        Columns of disabled augmentations are zero and draw no random numbers.
        """
        draws = torch.zeros(n, 3, dtype=torch.int64, device=self.device)
        if self.augment and self.pad > 0:
            draws[:, :2] = self._offsets(n)
        if self.augment and self.flip:
            draws[:, 2] = torch.rand(n, generator=self.generator, device=self.device) < 0.5
        return draws

    def transform(self, images: torch.Tensor, draws: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 images -> normalised float images, augmented if enabled (by ``draws`` from :meth:`_draw`,
        default fresh ones)."""
        x = images.float().div_(255)
        if self.augment:
            draws = self._draw(len(x)) if draws is None else draws
            x = self._crop(x, draws[:, :2]) if self.pad > 0 else x
            if self.flip:
                x = torch.where(draws[:, 2].bool().view(-1, 1, 1, 1), x.flip(3), x)
        return ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)

    def _crop(self, x: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        """Shift each image of ``x`` by its ``offsets [B, 2]`` within a zero padding of ``pad`` pixels."""
        b, c, h, w = x.shape
        p = self.pad
        padded = F.pad(x, (p, p, p, p))
        dy, dx = (self._offsets(b) if offsets is None else offsets).T.unsqueeze(-1)
        rows = (dy + torch.arange(h, device=self.device)).view(b, 1, h, 1)
        cols = (dx + torch.arange(w, device=self.device)).view(b, 1, 1, w)
        batch = torch.arange(b, device=self.device).view(b, 1, 1, 1)
        chan = torch.arange(c, device=self.device).view(1, c, 1, 1)
        return padded[batch, chan, rows, cols]


def split_halves(data: ImageData, *, seed: int = 0, size: int | None = None) -> tuple[ImageData, ImageData]:
    """The NB201 protocol split: a fixed random half for weights, the other half for the architecture.

    ``size`` (optional) keeps only ``size`` images per half, for reduced protocols.
    """
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    half = len(data) // 2
    first, second = order[:half], order[half : 2 * half]
    if size is not None:
        first, second = first[:size], second[:size]
    return data.subset(first), data.subset(second)
