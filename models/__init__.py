"""Pyro models of the architecture search methods, one file per method (installed as ``pyronas.models``)."""
