"""Shared fixtures: a clean Pyro parameter store and fixed seeds for every test, and the shared data."""

import os
from pathlib import Path

import pyro
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PYRONAS_SHARED", REPO.parent / "shared"))

# Notebooks (collected from notebooks/ by nbmake) read this in their kernels: tiny settings, seconds each.
os.environ.setdefault("PYRONAS_SMOKE", "1")


@pytest.fixture(autouse=True)
def clean_state():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    yield
    pyro.clear_param_store()


@pytest.fixture(scope="session")
def nb201_csv() -> Path:
    path = SHARED / "data" / "nb201" / "nb201_accuracy.csv"
    if not path.is_file():
        pytest.skip(f"shared NB201 table not found at {path} (set PYRONAS_SHARED)")
    return path


@pytest.fixture(scope="session")
def nb201_table(nb201_csv):
    from pyronas.benchmarks import NB201Table

    return NB201Table(nb201_csv)


@pytest.fixture(scope="session")
def cifar10_test_zip() -> Path:
    path = SHARED / "data" / "cifar10" / "cifar10-test-jpeg.zip"
    if not path.is_file():
        pytest.skip(f"shared CIFAR-10 zip not found at {path} (set PYRONAS_SHARED)")
    return path
