"""A search space made of your own network: the :class:`~pyronas.nn.Choice` and :class:`~pyronas.nn.WidthChoice`
decisions inside the module a factory builds.

Every label is one decision (choices sharing a label share it). Decisions are grouped into architecture tables
by their number of candidates, ``"choices<K>"`` with one row per label, so a method sees the usual
``{table: [rows, K]}`` contract whatever the candidate counts. A genotype is the JSON text ``{label: candidate}``.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import warnings
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import nn

from pyronas.nn.choice import Choice, decisions, mixing
from pyronas.nn.export import torch_only
from pyronas.spaces.base import SearchSpace

Factory = Callable[[int, int], nn.Module]  # (num_classes, in_channels) -> network containing choices


def factory_path(factory: Callable) -> str | None:
    """``"package.module:name"`` of an importable factory, ``None`` for a lambda or a local function."""
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
    if not module or not qualname or "<" in qualname or module == "__main__":
        return None
    return f"{module}:{qualname}"


def find_decisions(network: nn.Module) -> dict[str, tuple[str, ...]]:
    """``{label: candidate names}`` of the decisions in ``network``, in module order.

    Raises ``ValueError`` if the network holds none, or if one label names decisions with different candidates.
    """
    found: dict[str, tuple[str, ...]] = {}
    for label, decision in decisions(network):
        names = decision.candidate_names
        if found.setdefault(label, names) != names:
            raise ValueError(
                f"choices labelled {label!r} differ in their candidates ({list(found[label])} and {list(names)}); "
                "one label is one decision"
            )
    if not found:
        raise ValueError(f"the network ({type(network).__name__}) holds no Choice or WidthChoice to search")
    return found


class ModuleSupernet(nn.Module):
    """The user's network as a supernet: ``forward(images, {table: weights [rows, K]})`` routes each row to the
    decisions of its label and runs the network (:func:`~pyronas.nn.choice.mixing`)."""

    def __init__(self, network: nn.Module, rows: Mapping[str, tuple[str, ...]]):
        super().__init__()
        self.network = network
        self.rows = dict(rows)  # {table: labels, one per row}
        self.cell_types = tuple(self.rows)

    def forward(self, images: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        by_label = {}
        for table, labels in self.rows.items():
            if table not in weights:
                raise ValueError(f"no mixing weights for table {table!r}")
            w = weights[table]
            if w.shape[0] != len(labels):
                raise ValueError(f"table {table!r} has {len(labels)} rows, got weights of shape {list(w.shape)}")
            by_label.update({label: w[r] for r, label in enumerate(labels)})
        with mixing(self.network, by_label):
            return self.network(images)


class ModuleSpace(SearchSpace):
    """The decisions of ``factory(num_classes, in_channels)``'s network as a search space.

    Args:
        factory: builds the network; called with ``num_classes`` and ``in_channels`` (keywords).
        name: the space's name in configs and results (default: the factory's ``"module:name"`` path, which
            :func:`~pyronas.spaces.get_space` accepts back; ``"module"`` for a lambda or local function).

    ``supernet`` and ``network`` ignore ``channels`` and ``cells_per_stage``: the factory fixes its own sizes.
    """

    default_cells_per_stage = 1  # unused: the network is the factory's
    sized = False  # the factory fixes the network's size
    max_genotypes = 4096  # the most genotypes :meth:`genotypes` enumerates (each costed network is built once)

    def __init__(self, factory: Factory, name: str | None = None):
        self.factory = factory
        self.name = name or factory_path(factory) or "module"
        self.labels = find_decisions(self._build(10, 3))
        self.tables: dict[str, tuple[str, ...]] = {}
        for k in sorted({len(names) for names in self.labels.values()}):
            self.tables[f"choices{k}"] = tuple(label for label, names in self.labels.items() if len(names) == k)
        self.cell_types = tuple(self.tables)
        self.edge_names = tuple(self.labels)  # every decision; per-table rows are row_names(table)
        self.ops = ()  # candidates differ per row: candidate_names(table)

    def _build(self, num_classes: int, in_channels: int) -> nn.Module:
        network = self.factory(num_classes=num_classes, in_channels=in_channels)
        if not isinstance(network, nn.Module):
            raise ValueError(f"the space's factory must return an nn.Module, got {type(network).__name__}")
        return network

    @property
    def arch_shape(self) -> dict[str, tuple[int, int]]:
        return {table: (len(labels), int(table.removeprefix("choices"))) for table, labels in self.tables.items()}

    def row_names(self, table: str) -> tuple[str, ...]:
        return self.tables[table]

    def candidate_names(self, table: str) -> tuple[tuple[str, ...], ...]:
        return tuple(self.labels[label] for label in self.tables[table])

    def supernet(
        self, *, channels: int | None = None, cells_per_stage: int | None = None, num_classes: int = 10,
        in_channels: int = 3,
    ) -> nn.Module:  # fmt: skip
        network = self._build(num_classes, in_channels)
        find_decisions(network)
        return ModuleSupernet(network, self.tables)

    def derive(self, scores: Mapping[str, torch.Tensor]) -> str:
        """``{label: best candidate}`` as JSON text, labels in network order (argmax per row)."""
        chosen = {}
        for table, labels in self.tables.items():
            best = scores[table].argmax(-1).tolist()
            chosen.update({label: self.labels[label][k] for label, k in zip(labels, best)})
        return json.dumps({label: chosen[label] for label in self.labels})

    def _parse(self, genotype: str | Mapping[str, str]) -> dict[str, str]:
        if isinstance(genotype, str):
            try:
                genotype = json.loads(genotype)
            except json.JSONDecodeError:
                raise ValueError(f"genotype is not JSON text of {{label: candidate}}: {genotype[:60]!r}") from None
        if not isinstance(genotype, Mapping):
            raise ValueError("genotype must be a JSON object {label: candidate}")
        missing, unknown = set(self.labels) - set(genotype), set(genotype) - set(self.labels)
        if missing or unknown:
            what = "; ".join(
                f"{kind} {', '.join(map(repr, sorted(labels)))}"
                for kind, labels in (("missing", missing), ("unknown", unknown))
                if labels
            )
            raise ValueError(f"genotype labels do not match the space: {what}")
        for label, candidate in genotype.items():
            if candidate not in self.labels[label]:
                raise ValueError(f"choice {label!r} has no candidate {candidate!r}; one of {list(self.labels[label])}")
        return {label: genotype[label] for label in self.labels}

    def validate(self, genotype: str) -> str:
        return json.dumps(self._parse(genotype))

    def network(
        self, genotype: str, *, channels: int | None = None, cells_per_stage: int | None = None,
        num_classes: int = 10, in_channels: int = 3,
    ) -> nn.Module:  # fmt: skip
        """The factory's network with every decision fixed to the genotype's candidate, as what runs.

        That is :func:`~pyronas.nn.export.torch_only` of the fixed network: the chosen candidates only, each width
        choice at its real width where the layers around it allow (``narrowing_report`` says where it stays a
        mask). A network that :mod:`torch.fx` cannot trace (data-dependent control flow) is returned fixed,
        every candidate in it, with a one-line warning.
        """
        chosen = self._parse(genotype)
        network = self._build(num_classes, in_channels)
        for label, decision in decisions(network):
            decision.fix(chosen[label])
        return _runnable(network)

    def export(self, supernet: nn.Module, genotype: str, **network) -> nn.Module:
        """A copy of the supernet's network, trained weights and all, with every decision fixed to the genotype's
        candidate, as what runs (as :meth:`network`: the chosen candidates, real widths where they can be)."""
        chosen = self._parse(genotype)
        net = copy.deepcopy(supernet.network if isinstance(supernet, ModuleSupernet) else supernet)
        for label, decision in decisions(net):
            decision.set_weights(None)
            decision.fix(chosen[label])
        return _runnable(net)

    def one_hot(self, genotype: str) -> dict[str, torch.Tensor]:
        chosen = self._parse(genotype)
        out = {}
        for table, (rows, k) in self.arch_shape.items():
            out[table] = torch.zeros(rows, k)
            for r, label in enumerate(self.tables[table]):
                out[table][r, self.labels[label].index(chosen[label])] = 1.0
        return out

    @property
    def num_genotypes(self) -> int:
        """How many genotypes the space holds: the product of the decisions' candidate counts."""
        return math.prod(len(names) for names in self.labels.values())

    def genotypes(self) -> Iterator[str]:
        """Every genotype, canonical, the last label varying fastest; ``NotImplementedError`` (one line) above
        :attr:`max_genotypes`."""
        if self.num_genotypes > self.max_genotypes:
            raise NotImplementedError(
                f"{self.name} has {self.num_genotypes:,} genotypes, more than the {self.max_genotypes:,} a ModuleSpace "
                "enumerates (ModuleSpace.max_genotypes)"
            )
        combinations = itertools.product(*self.labels.values())  # checked above, not on the first next()
        return (json.dumps(dict(zip(self.labels, combination))) for combination in combinations)

    def op_parameters(self, supernet: nn.Module) -> dict[str, list[list[list[nn.Parameter]]]]:
        """Parameters of each candidate module per row (a :class:`~pyronas.nn.WidthChoice` has none)."""
        tables = {table: [[[] for _ in range(k)] for _ in range(rows)] for table, (rows, k) in self.arch_shape.items()}
        where = {label: (table, r) for table, labels in self.tables.items() for r, label in enumerate(labels)}
        network = supernet.network if isinstance(supernet, ModuleSupernet) else supernet  # labels are paths in it
        for label, decision in decisions(network):
            if isinstance(decision, Choice):
                table, r = where[label]
                for k in range(len(decision.candidate_names)):
                    tables[table][r][k].extend(decision.candidate(k).parameters())
        return tables


def _runnable(network: nn.Module) -> nn.Module:
    """``torch_only(network)``; ``network`` itself with a one-line warning where tracing fails."""
    try:
        return torch_only(network)
    except Exception as error:  # noqa: BLE001 - fx raises many kinds; the fixed network still runs
        reason = (str(error).strip().splitlines() or [""])[0]
        warnings.warn(
            f"cannot trace {type(network).__name__} with torch.fx ({type(error).__name__}: {reason}); using the "
            "fixed network with every candidate in it and width choices as masks",
            stacklevel=3,
        )
        return network


__all__ = ["ModuleSpace", "ModuleSupernet", "factory_path", "find_decisions"]
