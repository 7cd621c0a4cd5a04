"""Pyro guides (variational families) of the search methods, one file per method (``pyronas.guides``)."""
