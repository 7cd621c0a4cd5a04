"""The proxy registry: a name -> ``function(network, images, labels) -> float``.

Every proxy is computed on one minibatch for a network at initialisation; higher is better
(a larger network, more FLOPs, ... for the size proxies). A proxy may change the network's
gradients or BatchNorm statistics, so :func:`pyronas.proxies.score` hands each one a fresh copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from pyronas.proxies.activations import jacob_cov, nwot
from pyronas.proxies.fisher import fisher
from pyronas.proxies.saliency import grad_norm, grasp, snip
from pyronas.proxies.size import flops, params
from pyronas.proxies.synflow import synflow

Proxy = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]

PROXIES: dict[str, Proxy] = {
    "synflow": synflow,
    "nwot": nwot,
    "jacob_cov": jacob_cov,
    "snip": snip,
    "grad_norm": grad_norm,
    "grasp": grasp,
    "fisher": fisher,
    "params": params,
    "flops": flops,
}
ALIASES = {"naswot": "nwot", "jacov": "jacob_cov"}  # the names NASLib's tables use


def proxy_names(names: str | Iterable[str]) -> list[str]:
    """Canonical proxy names from ``"a,b"`` or a list; raises ``ValueError`` on an unknown name."""
    if isinstance(names, str):
        names = [n for n in (part.strip() for part in names.split(",")) if n]
    out = []
    for name in names:
        name = ALIASES.get(name, name)
        if name not in PROXIES:
            raise ValueError(f"unknown proxy {name!r}; choose from: {', '.join(PROXIES)}")
        out.append(name)
    if not out:
        raise ValueError("no proxy named")
    return out
