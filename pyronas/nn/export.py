"""The found network of a search, standalone: supernet weights inherited, BatchNorm recalibrated, torch-only.

:func:`inherit` builds the space's standalone network of a genotype at the supernet's size and copies in
the trained supernet weights of the genotype's ops (the space maps the keys, :meth:`SearchSpace.export`).
The supernet's op BatchNorms are ``affine=False`` where the standalone's are affine: those get weight 1
and bias 0, so the function is unchanged. Their running statistics were gathered under the search's
mixed weights, not the cell's, so :func:`recalibrate_bn` re-estimates them on a few training batches.
:func:`torch_only` turns the result into a :class:`torch.fx.GraphModule` of ``torch.nn`` modules only.

References:
    [1] Z. Guo et al. Single Path One-Shot Neural Architecture Search with Uniform Sampling. ECCV 2020
        (BatchNorm recalibration of a sub-network of shared weights).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from pyronas.nn.narrow import narrow

__all__ = ["inherit", "load_inherited", "pyronas_modules", "recalibrate_bn", "torch_only"]

_NORMS = nn.modules.batchnorm._BatchNorm


def load_inherited(
    network: nn.Module,
    supernet_state: Mapping[str, torch.Tensor],
    source: Callable[[str], str | None],
    *,
    fresh: Callable[[str], bool] = lambda key: False,
) -> nn.Module:
    """Copy ``supernet_state[source(key)]`` into each entry ``key`` of ``network``'s state; returns ``network``.

    An affine BatchNorm weight or bias whose supernet counterpart is missing (an ``affine=False`` norm) is set
    to 1 or 0; keys with ``fresh(key)`` keep their initialisation (heads the supernet has no counterpart of).
    Any other missing entry or a shape mismatch raises ``ValueError``.
    """
    norms = {name for name, m in network.named_modules() if isinstance(m, _NORMS) and m.affine}
    with torch.no_grad():
        for key, value in network.state_dict(keep_vars=True).items():
            if fresh(key):
                continue
            owner, _, leaf = key.rpartition(".")
            src = source(key)
            if src is not None and src in supernet_state:
                inherited = supernet_state[src]
                if inherited.shape != value.shape:
                    raise ValueError(
                        f"cannot inherit {key}: the supernet's {src} has shape {list(inherited.shape)}, the network's "
                        f"{list(value.shape)} (a supernet of another size, or with partial channels)"
                    )
                value.copy_(inherited)
            elif owner in norms and leaf in ("weight", "bias"):
                value.fill_(1.0 if leaf == "weight" else 0.0)  # the supernet's norm has no affine parameters
            else:
                raise ValueError(f"the supernet has no weights for the network's {key} (looked for {src})")
    return network


def inherit(space, supernet: nn.Module, genotype: str, **network) -> nn.Module:
    """The standalone network of ``genotype`` carrying ``supernet``'s trained weights of its ops, in eval mode.

    ``space`` is the :class:`~pyronas.spaces.SearchSpace` the supernet was built by; ``network`` are further
    keywords of its standalone network (e.g. DARTS' ``auxiliary``: a head that starts fresh). The network is
    the space's own class (scriptable with ``torch.jit.script``); :func:`torch_only` makes it torch-only.
    Its BatchNorm statistics are the supernet's: recalibrate them (:func:`recalibrate_bn`) before use.
    """
    genotype = space.validate(genotype)
    param = next(itertools.chain(supernet.parameters(), supernet.buffers()), None)
    net = space.export(supernet, genotype, **network)
    if param is not None:
        net = net.to(device=param.device, dtype=param.dtype if param.is_floating_point() else None)
    return net.eval()


@torch.no_grad()
def recalibrate_bn(
    network: nn.Module, batches: Iterable, num_batches: int | None = None, forward: Callable | None = None
) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics of ``network`` on ``batches``; returns it in eval mode.

    Statistics are reset and recomputed as the plain (cumulative) average over the first ``num_batches`` (all
    if ``None``) of ``batches`` (image tensors or ``(images, labels)`` pairs), forwarded in training mode
    without gradients; drop-path (a ``drop_path`` attribute) is off meanwhile. Momenta are restored after.
    ``forward(network, images)`` replaces ``network(images)`` (e.g. a supernet with its mixing weights).
    """
    norms = [m for m in network.modules() if isinstance(m, _NORMS) and m.track_running_stats]
    momenta = [m.momentum for m in norms]
    drop = getattr(network, "drop_path", None)
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: every batch counts the same
        if isinstance(drop, float):
            network.drop_path = 0.0
        network.train()
        for batch in itertools.islice(batches, num_batches):
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            if forward is None:
                network(images)
            else:
                forward(network, images)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        if isinstance(drop, float):
            network.drop_path = drop
        network.eval()
    return network


def pyronas_modules(network: nn.Module) -> dict[str, str]:
    """``{name: class}`` of the submodules of ``network`` whose class is defined in pyronas (empty if none)."""
    return {
        name: f"{type(m).__module__}.{type(m).__qualname__}"
        for name, m in network.named_modules()
        if type(m).__module__.split(".")[0] == "pyronas"
    }


def torch_only(network: nn.Module) -> torch.fx.GraphModule:
    """``network`` as a :class:`torch.fx.GraphModule` whose submodules are all ``torch.nn`` classes.

    Symbolic tracing records ``forward`` as generated code over ``torch`` functions and ``torch.nn`` leaf modules
    (same state-dict keys, same outputs); ``torch.jit.script``, ``torch.jit.trace`` and ``torch.export.export``
    work on it. Python branches are fixed at tracing time: trace a network whose training-only behaviour
    (drop-path, auxiliary heads) is off, as :func:`inherit` builds it. Raises ``ValueError`` if a pyronas
    module is left (one that fx treats as a leaf). A fixed :class:`~pyronas.nn.WidthChoice` is narrowed to its
    real width where the layers around it allow (:func:`~pyronas.nn.narrow.narrow`), else kept as a fixed mask;
    ``narrowing_report`` on the result says which.
    """
    narrowed = narrow(network)  # fixed width choices at their real widths, where they can be
    graph = torch.fx.symbolic_trace(narrowed)  # traces into the masks kept: fixed buffers
    for node in graph.graph.nodes:
        node.type = None  # annotations as strings (postponed evaluation) that TorchScript cannot read
    graph.recompile()
    left = pyronas_modules(graph)
    if left:
        raise ValueError(f"pyronas modules remain after tracing: {left}")
    graph.narrowing_report = narrowed.narrowing_report
    return graph.train(network.training)
