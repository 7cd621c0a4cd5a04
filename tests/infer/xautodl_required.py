"""The reference-step tests need the NB201 authors' xautodl 1.0.0 (``pip install --no-deps xautodl==1.0.0``)."""

import importlib.metadata

import pytest


def require_xautodl() -> None:
    """Skip the calling test module unless xautodl 1.0.0 is installed."""
    try:
        version = importlib.metadata.version("xautodl")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version != "1.0.0":
        pytest.skip("xautodl==1.0.0 not installed: pip install --no-deps xautodl==1.0.0", allow_module_level=True)
