"""The interface every search space implements; methods and the engine see only this."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping

import torch
from torch import nn


class SearchSpace(abc.ABC):
    """A cell-based search space: which architecture variables exist and what they build.

    Architecture variables are per-edge op choices, one ``[num_edges, num_ops]`` table per cell
    type (``arch_shape``). A method maps its random variables to mixing weights of that shape;
    the space turns mixing weights into a supernet's behaviour and per-edge op scores into a
    genotype (a string in the space's own notation).

    Names: :meth:`row_names` and :meth:`candidate_names` name a table's rows and each row's
    candidates; a cell space names every table's rows by ``edge_names`` and candidates by ``ops``,
    other spaces (:class:`~pyronas.spaces.ModuleSpace`) per table and row.
    """

    name: str
    ops: tuple[str, ...]
    edge_names: tuple[str, ...]
    cell_types: tuple[str, ...]
    default_cells_per_stage: int  # the supernet's cells per stage in the space's published search protocol
    sized = True  # ``channels`` and ``cells_per_stage`` set the networks' size (not where a factory fixes it)

    @property
    def arch_shape(self) -> dict[str, tuple[int, int]]:
        """``{cell_type: (num_edges, num_ops)}``."""
        return {cell: (len(self.edge_names), len(self.ops)) for cell in self.cell_types}

    def row_names(self, table: str) -> tuple[str, ...]:
        """Names of the rows of ``table`` (a cell space: its edges, ``"dst<-src"``)."""
        return tuple(self.edge_names)

    def candidate_names(self, table: str) -> tuple[tuple[str, ...], ...]:
        """Names of each row's candidates in ``table``, one tuple per row (a cell space: ``ops`` on every edge)."""
        return (tuple(self.ops),) * len(self.row_names(table))

    def named(self, table: str, values) -> dict[str, dict[str, float]]:
        """``{row: {candidate: value}}`` from a ``[rows, K]`` table of numbers (tensor or nested lists)."""
        rows = values.tolist() if hasattr(values, "tolist") else values
        return {
            row: {name: float(v) for name, v in zip(names, row_values)}
            for row, names, row_values in zip(self.row_names(table), self.candidate_names(table), rows)
        }

    @abc.abstractmethod
    def supernet(self, *, channels: int, cells_per_stage: int, num_classes: int, in_channels: int = 3) -> nn.Module:
        """The weight-sharing supernet; ``forward(images, {cell_type: weights [E, K]})``."""

    @abc.abstractmethod
    def derive(self, scores: Mapping[str, torch.Tensor]) -> str:
        """Genotype string from per-edge op scores ``{cell_type: [E, K]}`` (higher is better)."""

    @abc.abstractmethod
    def network(
        self, genotype: str, *, channels: int, cells_per_stage: int, num_classes: int, in_channels: int = 3
    ) -> nn.Module:
        """The standalone network of a genotype."""

    @abc.abstractmethod
    def validate(self, genotype: str) -> str:
        """The genotype in canonical form; raises ``ValueError`` with a one-line reason if invalid."""

    def export(self, supernet: nn.Module, genotype: str, **network) -> nn.Module:
        """The standalone network of ``genotype`` at ``supernet``'s size, carrying its trained weights of the
        genotype's ops (a canonical genotype; call :func:`pyronas.nn.export.inherit`, which checks it).

        A space maps the supernet's keys to the network's with :func:`pyronas.nn.export.load_inherited`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not export networks with inherited weights")

    def one_hot(self, genotype: str) -> dict[str, torch.Tensor]:
        """Mixing weights ``{cell_type: [E, K]}`` that select exactly the genotype's ops."""
        raise NotImplementedError(f"{type(self).__name__} does not define one-hot weights")

    def op_parameters(self, supernet: nn.Module) -> dict[str, list[list[list[nn.Parameter]]]]:
        """Supernet parameters per candidate op, ``{cell_type: table}`` (for per-op priors and gates).

        ``table[e][k]`` lists the parameters of op ``k`` on edge ``e`` in every cell of that type.
        """
        raise NotImplementedError(f"{type(self).__name__} does not map supernet parameters to candidate ops")

    def chosen_ops(self, network: nn.Module) -> list[tuple[str, int, int, nn.Module]]:
        """``(cell_type, edge, op, module)`` of every op that a standalone network (from :meth:`network`) computes
        for its genotype: one entry per cell and kept edge, ``module`` the op's own module (for per-candidate
        costs, :mod:`pyronas.costs`)."""
        raise NotImplementedError(f"{type(self).__name__} does not map network modules to candidate ops")

    def genotypes(self) -> Iterator[str]:
        """Every genotype of the space, canonical; a space too large to enumerate raises ``NotImplementedError``."""
        raise NotImplementedError(f"{type(self).__name__} cannot enumerate its genotypes")
