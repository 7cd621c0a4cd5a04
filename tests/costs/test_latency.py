"""Latency tables: their structure and the on-disk cache (how well they predict whole networks is a benchmark:
``benchmarks/latency_tables.py``)."""

import json
import math

import pytest
import torch

from pyronas.costs import CostTable, latency_table
from pyronas.costs.cache import cache_path, device_name
from pyronas.spaces import get_space
from tests.costs.conftest import SIZE, random_genotypes


def test_latency_table_times_every_derived_op_and_sums_per_genotype(tmp_path):
    """Structure, not speed (timings belong to ``benchmarks/latency_tables.py``): every op that a genotype can
    hold has a positive latency (``none`` too: its op writes zeros), and a genotype's cost is the fixed part plus its
    ops'. The fixed part is a median of residuals (whole network less its ops), so on a loaded machine its sign is
    noise: only its being a number is structure."""
    space = get_space("nb201")
    table = latency_table(space, SIZE, cache_dir=tmp_path, warmup=1, repeats=3)
    ops = table.table["cell"]
    assert math.isfinite(table.fixed) and ops.shape == (len(space.edge_names), len(space.ops)) and (ops > 0).all()
    for genotype in random_genotypes(space, 4):
        chosen = space.one_hot(genotype)["cell"].bool()
        assert table.cost(space, genotype) == pytest.approx(table.fixed + float(ops[chosen].sum()))


def test_cache_round_trip(tmp_path, monkeypatch):
    space = get_space("nb201")
    first = latency_table(space, SIZE, cache_dir=tmp_path, warmup=1, repeats=2)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and files[0].name.startswith(device_name("cpu").split()[0].lower())
    assert CostTable.from_json(json.loads(files[0].read_text())).to_json() == first.to_json()

    def fail(*args, **kwargs):
        raise AssertionError("a cached table was measured again")

    monkeypatch.setattr("pyronas.costs.latency.decompose", fail)
    again = latency_table(space, SIZE, cache_dir=tmp_path, warmup=1, repeats=2)
    assert again.to_json() == first.to_json()
    assert torch.equal(again.table["cell"], first.table["cell"]) and again.info["device"] == device_name("cpu")
    monkeypatch.undo()
    other = latency_table(space, SIZE.__class__(**{**SIZE.__dict__, "image_size": 8}), cache_dir=tmp_path, repeats=2)
    assert len(list(tmp_path.glob("*.json"))) == 2 and other.size.image_size == 8
    refreshed = latency_table(space, SIZE, cache_dir=tmp_path, warmup=1, repeats=2, refresh=True)
    assert refreshed.size == first.size and len(list(tmp_path.glob("*.json"))) == 2


def test_cache_path_keys_on_device_and_shapes(tmp_path):
    key = {"space": "nb201", "size": SIZE.__dict__, "batch_size": 1}
    path = cache_path("NVIDIA H100 80GB HBM3", key, tmp_path)
    assert path.parent == tmp_path and path.name.startswith("nvidia-h100-80gb-hbm3-")
    assert cache_path("NVIDIA H100 80GB HBM3", {**key, "batch_size": 2}, tmp_path) != path
    assert cache_path("cpu", key, tmp_path) != path
