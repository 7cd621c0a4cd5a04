"""Selection among cells drawn from any method's guide: proxy rules, validation accuracy with the shared
weights (posterior-guided sampling), and the search API."""

import copy
import json
import math

import pytest
import torch

from pyronas.api import search
from pyronas.cli import main
from pyronas.nn.nb201 import NB201Supernet
from pyronas.proxies import score
from pyronas.registry import get_method
from pyronas.select import (
    VALID,
    best_by_proxies,
    parse_rule,
    rank_sum,
    sample_cells,
    select_by_validation,
    select_cell,
)
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


def test_best_by_proxies_ranks_given_cells_like_select_cell():
    # the training-free baseline's pick: fixed candidates, no guide; the largest network wins on params,
    # the parameter-free cell (first in the list) loses, and ties go to the earliest candidate
    largest = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    pools = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))
    out = best_by_proxies([pools, largest, EMPTY], "proxy:params", x, y, **SMALL)
    assert out["genotype"] == largest and out["candidates"] == [pools, largest, EMPTY]
    assert out["scores"][1] == score(largest, ["params"], x, y, **SMALL)
    tied = best_by_proxies([EMPTY, pools], "proxy:params", x, y, **SMALL)  # neither has cell parameters
    assert tied["genotype"] == EMPTY
    both = best_by_proxies([pools, largest], "proxy:params+flops", x, y, **SMALL)
    assert both["genotype"] == largest and both["rank_sum"] == [2.0, 4.0]
    with pytest.raises(ValueError, match="proxy rule"):
        best_by_proxies([largest], "argmax", x, y, **SMALL)


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


# -- posterior-guided selection: validation accuracy of the shared supernet weights --------------------------


def _brute_force(supernet, space, cells, batches):
    """(accuracy %, mean loss) of each cell, on a fresh copy of the supernet, BatchNorm on batch statistics."""
    out = []
    for cell in cells:
        net = copy.deepcopy(supernet).train()
        correct, loss, count = 0, 0.0, 0
        with torch.no_grad():
            for x, y in batches:
                logits = net(x, space.one_hot(cell))
                correct += int((logits.argmax(-1) == y).sum())
                loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
                count += len(y)
        out.append((100.0 * correct / count, loss / count))
    return out


@pytest.mark.parametrize("method", ["drnas", "pgnas"])
def test_valid_rule_keeps_the_cell_the_shared_weights_classify_best(method):
    model, guide, space = _pair(method)
    supernet = model.supernet
    gen = torch.Generator().manual_seed(1)
    images = [torch.randn(16, 3, 8, 8, generator=gen) for _ in range(2)]
    noise = [torch.randint(0, 10, (16,), generator=gen) for _ in images]
    cells = select_by_validation(model, guide, space, supernet, 8, list(zip(images, noise)), seed=0)["candidates"]
    assert len(cells) > 2
    # relabel the images with the last candidate's predictions: it scores 100 %, the rule must find it
    net = copy.deepcopy(supernet).train()
    with torch.no_grad():
        batches = [(x, net(x, space.one_hot(cells[-1])).argmax(-1)) for x in images]
    before = copy.deepcopy(supernet.state_dict())
    out = select_by_validation(model, guide, space, supernet, 8, batches, seed=0)
    assert out["rule"] == VALID and out["batches"] == 2 and out["candidates"] == cells  # seeded draws
    brute = _brute_force(supernet, space, cells, batches)
    scores = [v for s in out["scores"] for v in (s["accuracy"], s["loss"])]
    assert scores == pytest.approx([v for pair in brute for v in pair], rel=1e-5)
    best = max(range(len(cells)), key=lambda i: (brute[i][0], -brute[i][1]))
    assert out["genotype"] == cells[best] and brute[best][0] == 100.0
    assert min(acc for acc, _ in brute) < 100.0  # a wrong pick is visible
    after = supernet.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())  # BatchNorm running statistics untouched
    assert supernet.training


def test_valid_rule_needs_batches():
    model, guide, space = _pair("pgnas")
    assert parse_rule("valid") == []
    with pytest.raises(ValueError, match="at least one batch"):
        select_by_validation(model, guide, space, model.supernet, 4, [])
    with pytest.raises(ValueError, match="select_batches must be >= 1"):
        search("pgnas", select="valid", select_batches=0)


def test_search_cli_valid_rule_records_argmax_and_selected_cells(tmp_path):
    args = ["search", "--quiet", "--method", "pgnas", "--dataset", "digits", "--epochs", "1", "--arch-lr", "0.05"]
    args += ["--train-size", "64", "--batch-size", "32", "--channels", "4", "--cells-per-stage", "1"]
    assert main(args + ["--select", "valid", "--samples", "6", "--select-batches", "2", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "result.json").read_text())
    sel = saved["selection"]
    assert sel["rule"] == "valid" and sel["samples"] == 6 and sel["batches"] == 2
    assert len(sel["scores"]) == len(sel["candidates"]) > 1
    best = max(range(len(sel["scores"])), key=lambda i: (sel["scores"][i]["accuracy"], -sel["scores"][i]["loss"]))
    assert saved["genotype"] == sel["candidates"][best]
    last = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])  # unrounded op probabilities
    assert saved["argmax_genotype"] == last["genotype"]
    assert last["genotype"] == get_space("nb201").derive({"cell": torch.tensor(last["op_probabilities"]["cell"])})


def test_valid_rule_recalibrates_batchnorm_for_each_candidate():
    model, guide, space = _pair("drnas")
    supernet = model.supernet
    gen = torch.Generator().manual_seed(2)
    batches = [(torch.randn(16, 3, 8, 8, generator=gen), torch.randint(0, 10, (16,), generator=gen)) for _ in range(2)]
    calibration = [(3.0 * torch.randn(16, 3, 8, 8, generator=gen) + 1.0, torch.zeros(16, dtype=torch.long))]
    before = copy.deepcopy(supernet.state_dict())
    out = select_by_validation(model, guide, space, supernet, 6, batches, seed=0, calibration=calibration)
    assert out["calibration_batches"] == 1
    for cell, got in zip(out["candidates"], out["scores"]):
        # by hand: fresh statistics averaged over the calibration batch under the cell, then eval mode
        net = copy.deepcopy(supernet)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        with torch.no_grad():
            net.train()(calibration[0][0], space.one_hot(cell))
            net.eval()
            logits = torch.cat([net(x, space.one_hot(cell)) for x, _ in batches])
        labels = torch.cat([y for _, y in batches])
        assert got["accuracy"] == pytest.approx(100.0 * float((logits.argmax(-1) == labels).float().mean()))
        assert got["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)), rel=1e-5)
    plain = select_by_validation(model, guide, space, supernet, 6, batches, seed=0)["scores"]
    assert [s["loss"] for s in plain] != pytest.approx([s["loss"] for s in out["scores"]])  # not batch statistics
    after = supernet.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items()) and supernet.training
