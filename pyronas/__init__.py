"""pyronas: Bayesian neural architecture search as Pyro model+guide pairs."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``pyronas.load_run`` (:func:`pyronas.diagnostics.load_run`), imported on first use."""
    if name == "load_run":
        from pyronas.diagnostics import load_run

        return load_run
    raise AttributeError(f"module 'pyronas' has no attribute {name!r}")
