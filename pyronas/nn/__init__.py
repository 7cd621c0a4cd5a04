"""Supernet modules; :class:`Choice` and :class:`WidthChoice` mark decisions in a network of your own."""

from pyronas.nn.choice import Choice, WidthChoice

__all__ = ["Choice", "WidthChoice"]
