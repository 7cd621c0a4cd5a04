"""Training-free selection: sampling cells from any method's guide, proxy rules, and the search API."""

import json
import math

import pytest
import torch

from pyronas.api import search
from pyronas.cli import main
from pyronas.nn.nb201 import NB201Supernet
from pyronas.proxies import score
from pyronas.registry import get_method
from pyronas.select import parse_rule, rank_sum, sample_cells, select_cell
from pyronas.spaces import get_space

SMALL = dict(channels=4, cells_per_stage=1, num_classes=10)
EMPTY = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _pair(method):
    space = get_space("nb201")
    model, guide = get_method(method).build(NB201Supernet(4, 1), space)
    return model, guide, space


def test_parse_rule():
    assert parse_rule("argmax") == []
    assert parse_rule("proxy:synflow") == ["synflow"]
    assert parse_rule("proxy:jacov+nwot") == ["jacob_cov", "nwot"]
    for bad in ("best", "proxy:", "proxy:accuracy"):
        with pytest.raises(ValueError):
            parse_rule(bad)


def test_rank_sum_ties_and_undefined():
    scores = [{"a": 1.0, "b": math.nan}, {"a": 3.0, "b": 2.0}, {"a": 1.0, "b": 5.0}]
    # a: ranks 1.5, 3, 1.5; b: NaN ranks last -> 1, 2, 3
    assert rank_sum(scores, ["a", "b"]) == [2.5, 5.0, 4.5]


def test_a_delta_guide_always_draws_its_argmax():
    model, guide, space = _pair("darts")
    cells = sample_cells(model, guide, space, 4)
    assert cells == [space.derive(guide.op_probabilities())] * 4


def test_select_keeps_the_best_scored_of_the_distinct_draws():
    model, guide, space = _pair("drnas")  # Dirichlet(~1) guide at initialisation: diverse draws
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))
    out = select_cell(model, guide, space, "proxy:params", 6, x, y, seed=0, **SMALL)
    assert 1 < len(out["candidates"]) <= 6 and len(set(out["candidates"])) == len(out["candidates"])
    params = [s["params"] for s in out["scores"]]
    assert out["genotype"] == out["candidates"][params.index(max(params))]
    assert out["scores"][0] == score(out["candidates"][0], ["params"], x, y, **SMALL)
    again = select_cell(model, guide, space, "proxy:params", 6, x, y, seed=0, **SMALL)
    assert again == out  # seeded draws
    both = select_cell(model, guide, space, "proxy:params+flops", 6, x, y, seed=0, **SMALL)
    best = max(range(len(both["rank_sum"])), key=both["rank_sum"].__getitem__)
    assert both["genotype"] == both["candidates"][best]


def test_search_records_argmax_and_selected_cells(tmp_path, nb201_csv):
    tiny = dict(dataset="digits", train_size=64, batch_size=32, channels=4, cells_per_stage=1, progress=False)
    result = search(
        "drnas",
        epochs=1,
        warmup_epochs=0,
        select="proxy:synflow",
        samples=5,
        benchmark=nb201_csv,
        out_dir=tmp_path,
        **tiny,
    )
    saved = json.loads((tmp_path / "result.json").read_text())
    sel = saved["selection"]
    assert sel["rule"] == "proxy:synflow" and sel["samples"] == 5
    assert saved["genotype"] in sel["candidates"]
    synflows = [s["synflow"] for s in sel["scores"]]
    assert saved["genotype"] == sel["candidates"][synflows.index(max(synflows))]
    assert saved["argmax_genotype"] == get_space("nb201").derive(
        {"cell": torch.tensor([list(p.values()) for p in result.op_probabilities["cell"].values()])}
    )
    assert (
        saved["benchmark"]["arch"] == saved["genotype"]
        and saved["argmax_benchmark"]["arch"] == saved["argmax_genotype"]
    )


def test_proxies_command_writes_csv_with_empty_undefined_fields(tmp_path, capsys):
    cells = tmp_path / "cells.txt"
    good = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
    cells.write_text(f"# two cells\n{good}\n\n{EMPTY}\n")
    out = tmp_path / "p.csv"
    args = ["proxies", str(cells), "--proxies", "params,nwot", "--batch-size", "16", "--out", str(out), "--quiet"]
    assert main(args) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "arch,params,nwot"
    assert lines[1].startswith(good + ",") and all(lines[1].split(",")[1:])
    assert lines[2].startswith(EMPTY + ",") and lines[2].endswith(",")  # nwot undefined: empty field
    cells.write_text(good.replace("skip_connect~0|none", "skip_connect~0|nope") + "\n")
    assert main(["proxies", str(cells), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyronas proxies: error:") and "nope" in err and "\n" not in err
