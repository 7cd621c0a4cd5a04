"""pyronas: Bayesian neural architecture search as Pyro model+guide pairs."""

__version__ = "0.1.0"
