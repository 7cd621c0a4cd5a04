"""benchmarks/nb201_cpu_search.py, the 20-minute CPU protocol: its baselines' cells, rows and options (no search)."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from pyronas.cli_options import parse
from pyronas.spaces import get_space

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "nb201_cpu_search.py"


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("nb201_cpu_search", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_budget_matched_rate_gives_the_published_lr_times_updates(harness):
    # DrNAS: 100 epochs at 3e-4 published; in 20 epochs of the same 391 steps that is 1.5e-3; DARTS: 50 epochs
    assert harness.budget_matched_arch_lr("drnas", 20) == pytest.approx(1.5e-3)
    assert harness.budget_matched_arch_lr("darts", 20) == pytest.approx(7.5e-4)
    assert harness.budget_matched_arch_lr("drnas", 100) == pytest.approx(3e-4)
    assert harness.budget_matched_arch_lr("balenas", 20) is None  # NGVI, not Adam
    assert harness.budget_matched_arch_lr("bayesnas", 20) is None  # its own rate


def test_random_cells_are_seeded_valid_and_cover_the_ops(harness):
    space = get_space("nb201")
    cells = harness.random_cells(50, seed=3)
    assert cells == harness.random_cells(50, seed=3) != harness.random_cells(50, seed=4)
    ops = {op for cell in cells for op in space.ops if f"|{op}~" in cell}
    assert ops == set(space.ops)
    assert all(cell.count("~") == len(space.edge_names) for cell in cells)


def test_rows_of_a_selecting_search_and_its_posterior_summary(harness):
    uniform = {op: 0.2 for op in get_space("nb201").ops}
    peaked = {**uniform, "none": 0.0, "nor_conv_3x3": 0.4}
    bench = {"cifar10_test": 94.0, "cifar100_test": 72.0, "imagenet16_test": 45.0}
    result = {
        "op_probabilities": {"cell": {"1<-0": uniform, "2<-0": peaked}},
        "argmax_genotype": "A",
        "argmax_benchmark": {**bench, "cifar10_test": 93.0},
        "genotype": "B",
        "benchmark": bench,
        "selection": {"candidates": ["A", "B"]},
        "seconds": 10.0,
    }
    argmax, chosen = harness.result_rows("balenas", 1, result, 12.0, tag="-x")
    assert (argmax["method"], argmax["genotype"], argmax["cifar10"]) == ("balenas-x", "A", 93.0)
    assert (chosen["method"], chosen["genotype"], chosen["cifar10"]) == ("balenas-x-tf", "B", 94.0)
    entropy = (math.log(5) - (3 * 0.2 * math.log(0.2) + 0.4 * math.log(0.4))) / 2  # a zero adds no entropy
    assert chosen["entropy"] == pytest.approx(entropy)
    assert chosen["largest_op_probability"] == [0.2, 0.4]
    del result["selection"]
    assert [r["method"] for r in harness.result_rows("drnas", 0, result, 1.0)] == ["drnas"]


def test_options_are_pyronas_search_options_with_the_protocol_defaults(harness):
    args = parse(harness.Args, [])
    assert (args.search.epochs, args.search.channels, args.search.image_size) == (20, 8, 16)
    args = parse(harness.Args, ["--epochs", "40", "--method-option", "drnas:init_scale=2", "--no-select"])
    assert args.search.epochs == 40 and args.method_option == {"drnas:init_scale": 2} and args.select is False
    with pytest.raises(SystemExit):
        parse(harness.Args, ["--epochs", "many"])
