"""Fixed width choices as real widths: the layers around a :class:`~pyronas.nn.WidthChoice` lose the masked channels.

A fixed ``WidthChoice`` of width ``w < max_channels`` zeroes channels ``w:`` of its input. :func:`narrow` traces the
network with :mod:`torch.fx` (fixed width choices as leaves), walks back from each to the layer that produces
its channels (a convolution or linear layer, through per-channel modules: BatchNorm, activations, dropout,
pooling, ``Identity``) and forward to the layers that consume them (convolutions or linear layers, through
modules that keep a zero channel zero: ReLU-like activations, dropout, pooling, and flattening a map pooled to
1x1). If both walks end at such layers, their weights lose the masked channels and the mask goes: the network
computes the same function with ``w`` channels. Otherwise the mask stays (a fixed buffer) and the report says
why: a residual addition or concatenation, a BatchNorm after the mask (it maps zero to its shift), a layer
shared by several calls, grouped convolutions.

References:
    [1] A. Wan et al. FBNetV2: Differentiable Neural Architecture Search for Spatial and Channel Dimensions.
        CVPR 2020 (channel masking, then the sub-network of the chosen widths).
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import fx, nn
from torch.nn import functional as F

from pyronas.nn.choice import WidthChoice

__all__ = ["narrow"]

_ACTIVATIONS_KEEPING_ZERO = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardtanh, nn.Tanh,
    nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
)  # fmt: skip
_OTHER_ACTIVATIONS = (nn.Sigmoid, nn.Hardsigmoid, nn.Softplus)  # per channel, but f(0) != 0
_POOLS = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)  # fmt: skip
_ADAPTIVE = _POOLS[6:]
_FUNCTIONS_KEEPING_ZERO = {torch.relu, F.relu, F.relu6, F.gelu, F.silu, F.leaky_relu, F.hardswish, torch.tanh}
_FUNCTIONS_KEEPING_ZERO |= {F.dropout}
_METHODS_KEEPING_ZERO = {"relu", "tanh"}
_NORMS = nn.modules.batchnorm._BatchNorm
_SLICED = {"out": ("weight", "bias"), "norm": ("weight", "bias", "running_mean", "running_var"), "in": ("weight",)}


@dataclass
class _Plan:
    """What narrowing one width choice slices: ``(module path, how)`` with how in out/in/norm."""

    slices: list[tuple[str, str]] = field(default_factory=list)
    layout: str = "map"  # the masked tensor: "map" [B, C, ...], "pooled" [B, C, 1, ...], "vec" [B, C]


class _Refused(Exception):
    pass


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return (isinstance(m, WidthChoice) and m.fixed is not None) or super().is_leaf_module(m, qualname)


def _describe(node: fx.Node) -> str:
    if node.op == "call_module":
        return f"{node.target}"
    if node.op == "call_function":
        return getattr(node.target, "__name__", str(node.target))
    return str(node.target)


def _pooled_to_one(m: nn.Module) -> bool:
    size = m.output_size
    return all(s == 1 for s in (size if isinstance(size, tuple) else (size,)))


def _flattens_channels(node: fx.Node, module: nn.Module | None) -> bool:
    """``nn.Flatten()``, ``torch.flatten(x, 1)`` or ``x.flatten(1)``: [B, C, 1, ...] -> [B, C]."""
    if isinstance(module, nn.Flatten):
        return module.start_dim == 1 and module.end_dim == -1
    if (node.op == "call_function" and node.target is torch.flatten) or (
        node.op == "call_method" and node.target == "flatten"
    ):
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return start == 1 and end == -1
    return False


class _Narrower:
    def __init__(self, gm: fx.GraphModule):
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.calls = Counter(n.target for n in gm.graph.nodes if n.op == "call_module")

    def module(self, node: fx.Node) -> nn.Module | None:
        return self.modules[node.target] if node.op == "call_module" else None

    def _only_input(self, node: fx.Node) -> fx.Node:
        inputs = node.all_input_nodes
        if len(inputs) != 1:
            raise _Refused(f"producer {_describe(node)} at node {node.name}")
        return inputs[0]

    def _sliceable(self, node: fx.Node, m: nn.Module, side: str) -> None:
        if self.calls[node.target] > 1:
            raise _Refused(f"{side} {node.target} is called at several nodes (shared weights)")
        if any(isinstance(p, nn.parameter.UninitializedParameter) for p in m.parameters()):
            raise _Refused(f"{side} {node.target} is lazy and not yet initialised")

    def producers(self, width: fx.Node, channels: int, plan: _Plan) -> None:
        node, between = self._only_input(width), []  # between: per-channel modules from the producer to the mask
        while True:
            if len(node.users) > 1:
                others = ", ".join(u.name for u in node.users if u is not width)
                raise _Refused(f"producer {_describe(node)} at node {node.name} also feeds {others}")
            m = self.module(node)
            if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d) and m.out_channels == channels and m.groups == 1:
                self._sliceable(node, m, "producer")
                plan.slices.insert(0, (node.target, "out"))
                plan.layout = "map"
                break
            if isinstance(m, nn.Linear) and m.out_features == channels:
                self._sliceable(node, m, "producer")
                plan.slices.insert(0, (node.target, "out"))
                plan.layout = "vec"  # a linear layer masked on dim 1: its output is [B, features]
                break
            if isinstance(m, _NORMS) and m.num_features == channels:
                self._sliceable(node, m, "producer")
                plan.slices.insert(0, (node.target, "norm"))
            elif not (
                isinstance(m, _ACTIVATIONS_KEEPING_ZERO + _OTHER_ACTIVATIONS + _POOLS)
                or (node.op == "call_function" and node.target in _FUNCTIONS_KEEPING_ZERO | {torch.sigmoid})
                or (node.op == "call_method" and node.target in _METHODS_KEEPING_ZERO | {"sigmoid"})
            ):
                raise _Refused(f"producer {_describe(node)} at node {node.name}")
            between.append(m)
            width, node = node, self._only_input(node)
        if plan.layout == "map" and any(isinstance(m, _ADAPTIVE) and _pooled_to_one(m) for m in between):
            plan.layout = "pooled"

    def consumers(self, node: fx.Node, channels: int, layout: str, plan: _Plan) -> None:
        for user in node.users:
            m = self.module(user)
            where = f"at node {user.name}"
            if user.op == "output":
                raise _Refused(f"the masked channels are the network's output ({where})")
            if len(user.all_input_nodes) != 1:
                raise _Refused(f"consumer {_describe(user)} {where} takes several inputs: a residual addition or "
                               "concatenation")  # fmt: skip
            if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d) and layout in ("map", "pooled"):
                if m.groups != 1 or m.in_channels != channels:
                    why = "is a grouped convolution" if m.groups != 1 else f"takes {m.in_channels} channels"
                    raise _Refused(f"consumer {user.target} {where} {why}")
                self._sliceable(user, m, "consumer")
                plan.slices.append((user.target, "in"))
            elif isinstance(m, nn.Linear) and layout == "vec" and m.in_features == channels:
                self._sliceable(user, m, "consumer")
                plan.slices.append((user.target, "in"))
            elif _flattens_channels(user, m):
                if layout == "map":
                    raise _Refused(f"consumer {_describe(user)} {where} flattens a spatial map")
                self.consumers(user, channels, "vec", plan)
            elif isinstance(m, _POOLS) and layout != "vec":
                pooled = layout == "pooled" or (isinstance(m, _ADAPTIVE) and _pooled_to_one(m))
                self.consumers(user, channels, "pooled" if pooled else "map", plan)
            elif (
                isinstance(m, _ACTIVATIONS_KEEPING_ZERO)
                or (user.op == "call_function" and user.target in _FUNCTIONS_KEEPING_ZERO)
                or (user.op == "call_method" and user.target in _METHODS_KEEPING_ZERO)
            ):
                self.consumers(user, channels, layout, plan)
            elif isinstance(m, _NORMS):
                raise _Refused(f"consumer {user.target} {where} is a BatchNorm after the mask: it maps zero "
                               "channels to its shift")  # fmt: skip
            else:
                raise _Refused(f"consumer {_describe(user)} {where}")

    @torch.no_grad()
    def apply(self, plan: _Plan, width: int) -> None:
        for path, how in plan.slices:
            m = self.modules[path]
            for name in _SLICED[how]:
                value = getattr(m, name, None)
                if value is None:
                    continue
                sliced = (value[:, :width] if how == "in" else value[:width]).clone()
                if isinstance(value, nn.Parameter):
                    setattr(m, name, nn.Parameter(sliced, requires_grad=value.requires_grad))
                else:
                    setattr(m, name, sliced)
            if how == "norm":
                m.num_features = width
            elif isinstance(m, nn.Linear):
                setattr(m, "in_features" if how == "in" else "out_features", width)
            else:
                setattr(m, "in_channels" if how == "in" else "out_channels", width)


def narrow(network: nn.Module) -> fx.GraphModule:
    """``network`` traced (:mod:`torch.fx`) to what runs, each fixed width choice narrowed where it can be.

    Returns a new :class:`torch.fx.GraphModule` (``network`` is not changed) holding only the modules that run;
    the width choices it could not narrow stay in it as fixed masks. Its ``narrowing_report`` lists one line per
    width choice of ``w < max_channels``: narrowed, or kept as a mask and why. A fixed width choice at full width
    is dropped (its mask is all ones). A linear layer that produces the masked channels is taken to output
    ``[batch, features]`` (the width choice masks dim 1). Raises what :mod:`torch.fx` raises where the network
    cannot be traced (data-dependent control flow); unfixed choices cannot be traced.
    """
    report = list(getattr(network, "narrowing_report", ()))
    gm = copy.deepcopy(fx.GraphModule(network, _Tracer().trace(network)))
    narrower = _Narrower(gm)
    widths = [n for n in gm.graph.nodes if n.op == "call_module" and isinstance(narrower.module(n), WidthChoice)]
    for node in widths:
        choice = narrower.module(node)
        label, width, channels = choice.label or node.target, int(choice.fixed), choice.max_channels
        if width == channels:
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
            continue
        plan = _Plan()
        try:
            if narrower.calls[node.target] > 1:
                raise _Refused(f"the width choice {node.target} is called at several nodes")
            narrower.producers(node, channels, plan)
            narrower.consumers(node, channels, plan.layout, plan)
        except _Refused as why:
            report.append(f"width {label!r}: kept as a mask of {width} of {channels} channels ({why})")
            continue
        narrower.apply(plan, width)
        node.replace_all_uses_with(node.args[0])
        gm.graph.erase_node(node)
        what = {"out": "outputs", "norm": "BatchNorm", "in": "inputs"}
        layers = ", ".join(f"{path} {what[how]}" for path, how in plan.slices)
        report.append(f"width {label!r}: narrowed to {width} of {channels} channels ({layers})")
    gm.delete_all_unused_submodules()
    gm.recompile()
    gm.narrowing_report = report
    return gm
