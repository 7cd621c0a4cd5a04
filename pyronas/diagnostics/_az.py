"""ArviZ, imported once without its refactor notice (a FutureWarning printed on every import)."""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

__all__ = ["az"]
