"""A cost lookup table: the fixed part of a network plus one cost per candidate op.

A network's cost under a genotype is ``fixed + sum(one_hot(genotype) * table)``; under mixing
weights it is the expectation :func:`pyronas.costs.expected.expected_cost`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

import torch

from pyronas.spaces import SearchSpace


@dataclass(frozen=True)
class NetworkSize:
    """The standalone network a table describes: ``space.network(genotype, **kwargs)`` on ``image_size`` images."""

    channels: int
    cells_per_stage: int
    num_classes: int = 10
    in_channels: int = 3
    image_size: int = 32  # height = width, pixels

    def network_kwargs(self) -> dict:
        """Keyword arguments of :meth:`~pyronas.spaces.SearchSpace.network`."""
        return dict(
            channels=self.channels,
            cells_per_stage=self.cells_per_stage,
            num_classes=self.num_classes,
            in_channels=self.in_channels,
        )

    def images(self, batch_size: int = 1, device: torch.device | str = "cpu") -> torch.Tensor:
        """A zero input batch ``[batch_size, in_channels, image_size, image_size]``."""
        return torch.zeros(batch_size, self.in_channels, self.image_size, self.image_size, device=device)


@dataclass(frozen=True)
class CostTable:
    """Per-candidate costs of one metric.

    Attributes:
        metric: what is counted (``"params"``, ``"flops"``, ``"latency"``).
        unit: its unit (``"count"``, ``"flop"`` per image, ``"ms"``).
        fixed: cost of the network outside the candidate ops (stem, reductions, cell preprocessing, head).
        table: ``{cell_type: float64 [E, K]}``; entry ``[e, k]`` is op ``k`` on edge ``e`` summed over
            every cell of that type.
        space: the search space's name.
        size: the network the table was measured on.
        info: anything else worth keeping (device, repetitions, ...), JSON-able.
    """

    metric: str
    unit: str
    fixed: float
    table: dict[str, torch.Tensor]
    space: str
    size: NetworkSize
    info: dict = field(default_factory=dict)

    def cost(self, space: SearchSpace, genotype: str) -> float:
        """The cost of ``genotype``'s standalone network: ``fixed + sum(one_hot * table)``."""
        hot = space.one_hot(genotype)
        return self.fixed + sum(float((hot[cell].double() * t).sum()) for cell, t in self.table.items())

    @property
    def cell_types(self) -> tuple[str, ...]:
        """The architecture tables whose weights the expected cost reads."""
        return tuple(self.table)

    def expected(self, p: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``fixed + sum_cells sum(p * table)`` for per-edge distributions ``p = {cell_type: [..., E, K]}``: ``[...]``,
        in ``p``'s dtype and device, differentiable in ``p``."""
        total = None
        for cell, costs in self.table.items():
            w = p[cell]
            term = (w * costs.to(device=w.device, dtype=w.dtype)).sum((-2, -1))
            total = term if total is None else total + term
        return total + self.fixed

    def extremes(self, space: SearchSpace) -> tuple[str, str]:
        """The cheapest and the costliest genotype as ``space.derive`` forms them from the negated and plain costs."""
        return space.derive({cell: -t for cell, t in self.table.items()}), space.derive(dict(self.table))

    def to(self, device: torch.device | str, dtype: torch.dtype) -> CostTable:
        """The table with its costs on ``device`` in ``dtype`` (for a model's weights)."""
        return replace(self, table={cell: t.to(device=device, dtype=dtype) for cell, t in self.table.items()})

    def scaled(self, factor: float, unit: str | None = None) -> CostTable:
        """The same table in another unit, every cost times ``factor`` (e.g. ``1e-6`` for millions)."""
        return CostTable(
            self.metric,
            unit or f"{self.unit} x {factor:g}",
            self.fixed * factor,
            {cell: t * factor for cell, t in self.table.items()},
            self.space,
            self.size,
            dict(self.info),
        )

    def to_json(self) -> dict:
        """A JSON-able dict; :meth:`from_json` reads it back."""
        return {
            "metric": self.metric,
            "unit": self.unit,
            "fixed": self.fixed,
            "table": {cell: t.tolist() for cell, t in self.table.items()},
            "space": self.space,
            "size": asdict(self.size),
            "info": self.info,
        }

    @classmethod
    def from_json(cls, data: dict) -> CostTable:
        return cls(
            data["metric"],
            data["unit"],
            float(data["fixed"]),
            {cell: torch.tensor(t, dtype=torch.float64) for cell, t in data["table"].items()},
            data["space"],
            NetworkSize(**data["size"]),
            dict(data.get("info", {})),
        )


def search_size(parts) -> NetworkSize:
    """The :class:`NetworkSize` whose costs a search counts, from :func:`pyronas.build.build_search`'s parts: the
    search's own (its ``channels``, ``cells_per_stage`` and image size) with the config's ``cost_size`` entries
    over them, so that a small supernet can be searched under the budget of the network that will be trained."""
    images = parts.weights_half.images  # uint8 [N, C, H, W], already at the search's image size
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"cost tables need square images, got {images.shape[-2]} x {images.shape[-1]}")
    c = parts.config
    own = NetworkSize(c["channels"], c["cells_per_stage"], parts.weights_half.num_classes, images.shape[1],
                      images.shape[-1])  # fmt: skip
    return replace(own, **dict(c["cost_size"] or {}))
