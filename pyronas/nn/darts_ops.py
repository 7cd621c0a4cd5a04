"""The DARTS candidate operations and drop-path.

All modules map ``[B, C, H, W]`` to ``[B, C, H', W']`` with ``H' = ceil(H / stride)`` for any
``H >= 1`` (the same for every op, so the outputs of one node add up).

References:
    [1] H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
    [2] G. Larsson, M. Maire, G. Shakhnarovich. FractalNet: Ultra-Deep Neural Networks without
        Residuals. ICLR 2017 (drop-path).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pyronas.nn.ops import ReLUConvBN, Zero


class DilConv(nn.Sequential):
    """ReLU -> depthwise k x k conv (dilated, strided) -> pointwise conv -> BatchNorm."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, dilation: int, *, affine: bool = True):
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked :class:`DilConv` blocks with dilation 1; only the first is strided."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, *, affine: bool = True):
        super().__init__(
            DilConv(c_in, c_in, kernel_size, stride, 1, affine=affine),
            DilConv(c_in, c_out, kernel_size, 1, 1, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution: two stride-2 1x1 convs on pixel grids offset by one, concatenated, then BN.

    ``c_out`` must be even. Odd sizes are padded on the shifted path so both halves agree.
    """

    def __init__(self, c_in: int, c_out: int, *, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def darts_op(name: str, channels: int, stride: int, *, affine: bool = True) -> nn.Module:
    """A DARTS candidate op with ``channels`` in and out; ``stride`` 2 on the input edges of a reduction cell.

    ``skip_connect`` is the identity at stride 1 and a :class:`FactorizedReduce` at stride 2.
    Pools here carry no BatchNorm (the search supernet appends one; see :class:`pyronas.nn.darts.MixedOp`).
    """
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine=affine)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        return SepConv(channels, channels, int(name[-1]), stride, affine=affine)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        return DilConv(channels, channels, int(name[-1]), stride, 2, affine=affine)
    raise ValueError(f"unknown DARTS op {name!r}")


def preprocess(c_in: int, c_out: int, reduce: bool, *, affine: bool) -> nn.Module:
    """A cell's input adapter: ReLU-1x1 conv-BN, or :class:`FactorizedReduce` when the input is at twice the size."""
    return FactorizedReduce(c_in, c_out, affine=affine) if reduce else ReLUConvBN(c_in, c_out, 1, affine=affine)


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``prob`` and rescale the rest by ``1 / (1 - prob)``."""
    if prob <= 0.0:
        return x
    keep = 1.0 - prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep
