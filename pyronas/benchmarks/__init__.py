"""Tabular NAS benchmarks for looking up the real accuracy of a found cell."""

from pyronas.benchmarks.nb201 import ENV_VAR, BenchmarkError, NB201Table

__all__ = ["ENV_VAR", "BenchmarkError", "NB201Table"]
