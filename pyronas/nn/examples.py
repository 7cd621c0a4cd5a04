"""A small network with decisions, the example of searching your own network (:class:`~pyronas.spaces.ModuleSpace`).

``pyronas.api.search("drnas", space="pyronas.nn.examples:choice_convnet", dataset="digits", epochs=2)``.
"""

from __future__ import annotations

from torch import nn

from pyronas.nn.choice import Choice, WidthChoice


def conv_bn_relu(channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(channels), nn.ReLU()
    )


def choice_convnet(num_classes: int = 10, in_channels: int = 3, channels: int = 16) -> nn.Module:
    """Stem, a width choice (8 or 16 channels), two conv blocks sharing one kernel choice (1, 3 or 5), an optional
    third block (depth: ``skip`` or ``block``), global pooling and a linear classifier.

    Decisions: ``width`` (2 candidates), ``kernel`` (3, shared by two blocks), ``depth`` (2).
    """

    def kernel_choice() -> Choice:
        return Choice({f"conv{k}x{k}": conv_bn_relu(channels, k) for k in (1, 3, 5)}, label="kernel")

    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        WidthChoice(channels, [channels // 2, channels], label="width"),
        kernel_choice(),
        kernel_choice(),
        Choice({"skip": nn.Identity(), "block": conv_bn_relu(channels, 3)}, label="depth"),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, num_classes),
    )


def choice_chain(num_classes: int = 10, in_channels: int = 3, channels: int = 8, blocks: int = 8) -> nn.Module:
    """Stem, ``blocks`` conv blocks with one kernel choice each (1, 3 or 5; labels ``block0`` ...), a width choice
    (half or all channels, label ``width``) before the last block, global pooling and a linear classifier.

    ``3 ** blocks * 2`` genotypes (13,122 for 8 blocks), more than a :class:`~pyronas.spaces.ModuleSpace`
    enumerates, so its costs are measured per group of interacting decisions (:mod:`pyronas.costs.grouped`): the
    width narrows the two blocks beside it, which form one group with it; every other block is a group alone.
    """

    def kernel_choice(i: int) -> Choice:
        return Choice({f"conv{k}x{k}": conv_bn_relu(channels, k) for k in (1, 3, 5)}, label=f"block{i}")

    layers = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
    layers += [kernel_choice(i) for i in range(blocks - 1)]
    layers += [WidthChoice(channels, [channels // 2, channels], label="width"), kernel_choice(blocks - 1)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
