"""Latency tables: a loose check against whole networks, and the on-disk cache."""

import json
import statistics

import pytest
import torch

from pyronas.costs import CostTable, latency_table, network_latency
from pyronas.costs.cache import cache_path, device_name
from pyronas.spaces import get_space
from tests.costs.conftest import SIZE, random_genotypes

TOLERANCE = 0.6  # median relative error over genotypes; the CPU here is shared with other jobs, so timings are loose


@pytest.mark.parametrize("name", ["nb201", pytest.param("darts", marks=pytest.mark.slow)])
def test_latency_sum_is_near_the_whole_network(name, tmp_path):
    space = get_space(name)
    table = latency_table(space, SIZE, cache_dir=tmp_path, warmup=5, repeats=20)
    errors = []
    for genotype in random_genotypes(space, 4):
        net = space.network(genotype, **SIZE.network_kwargs()).eval()
        measured = network_latency(net, SIZE.images(), warmup=5, repeats=30)
        errors.append(abs(table.cost(space, genotype) - measured) / measured)
    assert statistics.median(errors) < TOLERANCE, errors


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
