"""Minibatches from in-memory images, normalised and augmented on whole batches.

No worker processes and no per-image Python: a batch is one gather from a uint8 tensor (on the
GPU when the data lives there), a random crop with zero padding and a horizontal flip done on
the whole batch, then per-channel normalisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pyronas.data.datasets import ImageData


def _mix(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + 12_345) % (2**62)


class Batches:
    """Shuffled minibatches of ``(images float [B, C, H, W], labels int64 [B])``.

    Each epoch's order and augmentation depend only on ``(seed, epoch)``, set with
    :meth:`set_epoch`, so a resumed run sees exactly the batches an uninterrupted one does.

    Args:
        data: the images.
        batch_size: images per batch; the last incomplete batch is dropped.
        augment: random crop (zero padding of ``pad`` pixels, default ``H // 8``) and, where
            ``data.flip``, horizontal flip.
        mean, std: per-channel statistics of ``images / 255``; computed from ``data`` if omitted.
        device: where batches (and the stored images) live.
        seed: base seed of the shuffling and augmentation.
        channels_last: return batches in ``torch.channels_last`` memory format (faster convolutions
            on CPU and GPU; the values are the same).
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
    ):
        if batch_size < 1 or batch_size > len(data):
            raise ValueError(f"batch size must lie in 1..{len(data)} for {data.name}, got {batch_size}")
        self.device = torch.device(device)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.batch_size = batch_size
        self.augment = augment
        self.flip = data.flip
        self.pad = data.images.shape[-1] // 8 if pad is None else pad
        if mean is None or std is None:
            pixels = data.images.float().div_(255).transpose(0, 1).flatten(1)
            mean, std = pixels.mean(1), pixels.std(1).clamp_min(1e-3)
        self.mean = mean.to(self.device).view(1, -1, 1, 1)
        self.std = std.to(self.device).view(1, -1, 1, 1)
        self.seed = seed
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.generator = torch.Generator(device=self.device)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Fix the shuffling and augmentation of ``epoch``."""
        self.generator.manual_seed(_mix(self.seed, epoch))

    def __len__(self) -> int:
        return len(self.labels) // self.batch_size

    def __iter__(self):
        order = torch.randperm(len(self.labels), generator=self.generator, device=self.device)
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.transform(self.images[index]), self.labels[index]

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> normalised float images, augmented if enabled."""
        x = images.float().div_(255)
        if self.augment:
            x = self._crop(x) if self.pad > 0 else x
            if self.flip:
                flip = torch.rand(len(x), generator=self.generator, device=self.device) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        return ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)

    def _crop(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.pad
        padded = F.pad(x, (p, p, p, p))
        dy, dx = torch.randint(0, 2 * p + 1, (2, b, 1), generator=self.generator, device=self.device)
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
