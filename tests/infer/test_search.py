import json
import os
import subprocess
import sys

import pyro
import pytest
import torch

from pyronas.api import search
from pyronas.data import Batches, load_digits, split_halves
from pyronas.infer import BilevelSVI, CheckpointError, Search, SearchDiverged
from pyronas.optim import arch_adam, weight_sgd
from pyronas.registry import METHODS, get_method
from pyronas.spaces import SPACES, get_space

TINY = dict(dataset="digits", train_size=64, batch_size=32, channels=4, cells_per_stage=1, progress=False)


@pytest.mark.parametrize("elbo", ["trace", "meanfield"])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_search_runs_and_moves_the_architecture(method, elbo, tmp_path, nb201_csv):
    result = search(
        method, epochs=2, warmup_epochs=0, arch_lr=0.05, elbo=elbo, out_dir=tmp_path, benchmark=nb201_csv, **TINY
    )
    assert get_space("nb201").validate(result.genotype) == result.genotype
    probs = torch.tensor([list(p.values()) for p in result.op_probabilities["cell"].values()])
    assert probs.shape == (6, 5) and torch.allclose(probs.sum(-1), torch.ones(6), atol=1e-4)
    assert (probs - 0.2).abs().max() > 1e-3, "architecture steps changed the distribution"
    assert result.benchmark["arch"] == result.genotype and result.benchmark["cifar10_test"] > 0
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["genotype"] == result.genotype and saved["method"] == method and saved["epochs"] == 2


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_step_moves_only_its_group(method):
    space = get_space("nb201")
    data = load_digits()
    a, b = split_halves(data, size=32)
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    model, guide = get_method(method).build(supernet, space)
    svi = BilevelSVI(model, guide, supernet, weight_sgd(1), arch_adam(lr=0.1))
    x, y = next(iter(Batches(a, 32)))
    svi.step_arch(x, y)  # creates the guide's parameters
    arch = {k: v.detach().clone() for k, v in pyro.get_param_store().items() if not k.startswith("supernet")}
    weights = {k: v.detach().clone() for k, v in supernet.state_dict().items()}
    svi.step_weights(x, y)
    assert all(torch.equal(v, pyro.param(k).detach()) for k, v in arch.items())
    assert any(not torch.equal(v, supernet.state_dict()[k]) for k, v in weights.items() if "weight" in k)
    weights = {k: v.detach().clone() for k, v in supernet.named_parameters()}
    svi.step_arch(x, y)
    assert all(torch.equal(v, dict(supernet.named_parameters())[k]) for k, v in weights.items())
    assert any(not torch.equal(v, pyro.param(k).detach()) for k, v in arch.items())
    assert all(p.grad is None for p in supernet.parameters())


@pytest.mark.parametrize("method", sorted(METHODS))
def test_weight_step_treats_the_mixing_weights_as_constants(method):
    """No autograd work for the architecture in a weight step (the plain DARTS loop's ``no_grad``)."""
    space = get_space("nb201")
    a, _ = split_halves(load_digits(), size=32)
    supernet = space.supernet(channels=4, cells_per_stage=1, num_classes=10, in_channels=1)
    model, guide = get_method(method).build(supernet, space)
    svi = BilevelSVI(model, guide, supernet, weight_sgd(1), arch_adam(lr=0.1))
    seen = []
    supernet.register_forward_pre_hook(lambda _, args: seen.append(any(w.requires_grad for w in args[1].values())))
    x, y = next(iter(Batches(a, 32)))
    svi.step_arch(x, y)
    svi.step_weights(x, y)
    svi.step_arch(x, y)
    assert seen == [True, False, True]
    arch = [p for name, p in pyro.get_param_store().named_parameters() if not name.startswith("supernet")]
    assert arch and all(p.requires_grad for p in arch), "frozen parameters are thawed after the step"
    assert all(p.requires_grad for p in supernet.parameters())


def test_warmup_epochs_keep_the_architecture_fixed(tmp_path):
    result = search("drnas", epochs=1, warmup_epochs=1, out_dir=tmp_path, **TINY)
    record = result.history[0]
    assert record["valid_acc"] is None
    probs = torch.tensor(record["op_probabilities"]["cell"])
    pyro.clear_param_store()
    init = search("drnas", epochs=1, warmup_epochs=1, **TINY).history[0]["op_probabilities"]["cell"]
    assert torch.equal(probs, torch.tensor(init))


def test_seed_reproduces_and_differs():
    a = search("drnas", epochs=1, warmup_epochs=0, arch_lr=0.05, seed=1, **TINY)
    b = search("drnas", epochs=1, warmup_epochs=0, arch_lr=0.05, seed=1, **TINY)
    c = search("drnas", epochs=1, warmup_epochs=0, arch_lr=0.05, seed=2, **TINY)
    assert a.op_probabilities == b.op_probabilities
    assert a.op_probabilities != c.op_probabilities


def test_seed_reproduces_bitwise_across_processes(tmp_path):
    """Two processes (different memory addresses, so different set orders inside SVI) log the same losses.

    The tiny gradient clip keeps clipping, whose norm sums over parameters, active in every step.
    """
    logs = []
    for run in ("a", "b"):
        out = tmp_path / run
        code = (
            "from pyronas.api import search; "
            f"search('drnas', epochs=2, warmup_epochs=0, arch_lr=0.05, out_dir={str(out)!r}, grad_clip=0.01, "
            "dataset='digits', train_size=64, batch_size=32, channels=4, cells_per_stage=1, progress=False)"
        )
        subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        logs.append([json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()])
    for ra, rb in zip(*logs):
        assert ra["train_loss_steps"] == rb["train_loss_steps"] and ra["valid_loss_steps"] == rb["valid_loss_steps"]
        assert ra["op_probabilities"] == rb["op_probabilities"]


def test_nan_loss_is_reported_and_checkpoint_kept(tmp_path, monkeypatch):
    search("darts", epochs=1, out_dir=tmp_path, **TINY)
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    from pyronas.nn.nb201 import NB201Supernet

    original = NB201Supernet.forward
    monkeypatch.setattr(NB201Supernet, "forward", lambda self, x, w: original(self, x, w) * float("nan"))
    with pytest.raises(SearchDiverged, match="became nan"):
        search("darts", epochs=1, out_dir=tmp_path / "nan", **TINY)
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        search("drnas", epochs=1, out_dir=tmp_path, resume=True, **TINY)


def test_resume_with_other_configuration_refused(tmp_path):
    search("drnas", epochs=1, out_dir=tmp_path, **TINY)
    with pytest.raises(ValueError, match="seed=5 differs from the run's 0; drop it to resume"):
        search("drnas", epochs=2, seed=5, out_dir=tmp_path, resume=True, **TINY)


@pytest.mark.parametrize("space", sorted(SPACES))
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_searches_every_space(method, space):
    result = search(method, space=space, epochs=1, warmup_epochs=0, arch_lr=0.05, **TINY)
    search_space = get_space(space)
    assert search_space.validate(result.genotype) == result.genotype
    assert set(result.op_probabilities) == set(search_space.cell_types)
    assert all(len(edges) == len(search_space.edge_names) for edges in result.op_probabilities.values())


def test_sync_free_elbo_gives_the_same_search(tmp_path):
    """elbo="device" (losses stay tensors, checked once per epoch) logs and finds what elbo="trace" does."""
    a = search("drnas", epochs=2, warmup_epochs=0, arch_lr=0.05, elbo="trace", **TINY)
    pyro.clear_param_store()
    b = search("drnas", epochs=2, warmup_epochs=0, arch_lr=0.05, elbo="device", **TINY)
    assert a.genotype == b.genotype
    for ra, rb in zip(a.history, b.history):
        assert ra["train_loss_steps"] == pytest.approx(rb["train_loss_steps"], abs=1e-5)
        assert ra["valid_acc"] == rb["valid_acc"] and ra["train_acc"] == rb["train_acc"]
        pa, pb = (torch.tensor(r["op_probabilities"]["cell"]) for r in (ra, rb))
        assert torch.allclose(pa, pb)


def test_sync_free_elbo_reports_nan_at_the_end_of_the_epoch(tmp_path, monkeypatch):
    from pyronas.nn.nb201 import NB201Supernet

    original = NB201Supernet.forward
    monkeypatch.setattr(NB201Supernet, "forward", lambda self, x, w: original(self, x, w) * float("nan"))
    with pytest.raises(SearchDiverged, match="diverged in epoch 1: the ELBO became nan .*nothing was saved"):
        search("darts", epochs=1, elbo="device", out_dir=tmp_path, **TINY)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_autocast_option_runs_and_is_recorded(tmp_path):
    result = search("drnas", epochs=1, warmup_epochs=0, amp="bf16", out_dir=tmp_path, **TINY)
    assert result.config["amp"] == "bf16"
    assert all(torch.isfinite(torch.tensor(r["train_loss_steps"])).all() for r in result.history)
    with pytest.raises(ValueError, match="amp = .fp8. is not valid: it must be one of: bf16, fp16"):
        search("drnas", epochs=1, amp="fp8", **TINY)


@pytest.mark.parametrize(
    "method,space", [(m, "nb201") for m in sorted(METHODS)] + [("drnas", "darts")], ids=lambda v: str(v)
)
def test_single_path_search_learns_and_reproduces(method, space):
    kwargs = dict(TINY, space=space, epochs=2, warmup_epochs=0, arch_lr=0.05, single_path=True)
    a = search(method, **kwargs)
    assert a.config["single_path"] is True
    for cell, edges in a.op_probabilities.items():
        probs = torch.tensor([list(p.values()) for p in edges.values()])
        assert (probs - probs.mean(-1, keepdim=True)).abs().max() > 1e-4, f"{cell}: the distribution moved"
    pyro.clear_param_store()
    b = search(method, **kwargs)
    assert a.op_probabilities == b.op_probabilities, "the drawn paths follow the seed"
    pyro.clear_param_store()
    dense = search(method, **dict(kwargs, single_path=False))
    assert dense.config["single_path"] is False  # every setting is recorded, used or not
    assert dense.history[0]["train_loss_steps"] != a.history[0]["train_loss_steps"]


def test_single_path_refuses_compile():
    with pytest.raises(ValueError, match="compile and single_path do not combine"):
        search("drnas", epochs=1, single_path=True, compile=True, **TINY)


@pytest.mark.parametrize("method, clip", [("darts", 0.05), ("drnas", 0.05)])
def test_resume_repeats_the_reference_step_protocols(method, clip, tmp_path):
    """DARTS-V1's clip counts the last architecture step's gradients (kept in the checkpoint), DrNAS's the
    architecture gradients of the training loss, both with random validation batches; a clip that binds at
    every step makes each of them matter. A search stopped after its first epoch and resumed ends bitwise
    where an uninterrupted one ends."""
    run = dict(TINY, epochs=2, grad_clip=clip)
    full = search(method, out_dir=tmp_path / "full", **run)
    original = Search._epoch

    def stop_at_epoch_one(self):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return original(self)

    Search._epoch = stop_at_epoch_one
    try:
        with pytest.raises(KeyboardInterrupt):
            search(method, out_dir=tmp_path / "cut", **run)
    finally:
        Search._epoch = original
    state = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 1
    if method == "darts":
        assert state["arch_optim"]["last_step_grads"]  # the carried gradients are in the checkpoint
    resumed = search(method, out_dir=tmp_path / "cut", resume=True, **run)
    assert resumed.op_probabilities == full.op_probabilities
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=False) for d in ("full", "cut"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
