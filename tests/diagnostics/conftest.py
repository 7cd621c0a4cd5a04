"""Tiny finished searches shared by the diagnostics tests (a few seconds each)."""

import pytest

from pyronas.api import search

TINY = dict(
    dataset="digits",
    train_size=64,
    batch_size=32,
    channels=4,
    cells_per_stage=1,
    epochs=2,
    warmup_epochs=0,
    arch_lr=0.05,
    progress=False,
)


@pytest.fixture(scope="session")
def drnas_runs(tmp_path_factory):
    """Three DrNAS searches with seeds 0, 1, 2: the chains of a cross-seed posterior."""
    root = tmp_path_factory.mktemp("drnas")
    for seed in range(3):
        search("drnas", seed=seed, out_dir=root / f"s{seed}", **TINY)
    return [root / f"s{seed}" for seed in range(3)]


@pytest.fixture(scope="session")
def darts_run(tmp_path_factory):
    """One DARTS search (a point-mass guide)."""
    out = tmp_path_factory.mktemp("darts") / "s0"
    search("darts", seed=0, out_dir=out, **TINY)
    return out
