"""Candidate operations and blocks shared by the cell-based networks.

All modules take and return ``[B, C, H, W]`` feature maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BatchNorm."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, *, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class Zero(nn.Module):
    """The ``none`` op: a zero feature map of the right shape."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class AvgPool(nn.Module):
    """3x3 average pooling, stride 1, that ignores padding (NAS-Bench-201's ``avg_pool_3x3``).

    Computed as a depthwise 3x3 box filter divided by the number of valid pixels in each window:
    the same function as ``nn.AvgPool2d(3, 1, 1, count_include_pad=False)``, about 5x faster on CPU.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = x.shape[-3:]
        kernel = x.new_ones(1, 1, 3, 3).expand(c, 1, 3, 3)
        count = F.conv2d(x.new_ones(1, 1, h, w), x.new_ones(1, 1, 3, 3), padding=1)
        return F.conv2d(x, kernel, padding=1, groups=c) / count


class ResNetBlock(nn.Module):
    """Residual basic block that halves the resolution (NAS-Bench-201's reduction block).

    ReLUConvBN 3x3 stride 2 -> ReLUConvBN 3x3, plus a shortcut AvgPool2d(2) -> Conv 1x1.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


def nb201_op(name: str, channels: int, *, affine: bool = True) -> nn.Module:
    """A NAS-Bench-201 candidate op of ``channels`` in and out channels, stride 1."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, affine=affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, affine=affine)
    if name == "avg_pool_3x3":
        return AvgPool()
    raise ValueError(f"unknown NB201 op {name!r}")
