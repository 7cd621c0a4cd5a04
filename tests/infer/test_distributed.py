"""Data-parallel search: two Gloo processes on the CPU against one process with the same global batch.

The two ranks are forked (no second import of torch and Pyro) and join the process group from the
environment variables torchrun would set, through ``search``'s auto-detection. Where results are
compared with one process, every BatchNorm of the supernet is replaced by the identity: training-mode
BatchNorm normalises by each rank's shard, the one documented difference from a single process.
"""

import json
import os
import socket
import time

import pyro
import pytest
import torch
import torch.multiprocessing as mp

import pyronas.api
import pyronas.build
import pyronas.infer.rundir
import pyronas.infer.search
from pyronas.api import search
from pyronas.cli import main
from pyronas.data import Batches, ImageData, load_digits
from pyronas.infer.distributed import AllReduce, World, join_world
from pyronas.optim import arch_adam
from pyronas.spaces import get_space

WORLD = 2
TINY = dict(dataset="digits", train_size=64, batch_size=16, channels=4, cells_per_stage=1, progress=False)
# Adam and NGVI architecture steps; 4 steps an epoch; drnas's two epochs are the reference of the resumed search
CASES = {"drnas": dict(arch_lr=0.05, epochs=2), "balenas": dict(arch_optim="ngvi", epochs=1)}


class _BatchStatFree:
    """A search space whose supernet has no BatchNorm, so each image's loss ignores the rest of its batch."""

    def __init__(self, name: str):
        self._space = get_space(name)

    def __getattr__(self, name: str):
        return getattr(self._space, name)

    def supernet(self, **kwargs) -> torch.nn.Module:
        net = self._space.supernet(**kwargs)
        for module in list(net.modules()):
            for name, child in module.named_children():
                if isinstance(child, torch.nn.BatchNorm2d):
                    setattr(module, name, torch.nn.Identity())
        return net


def _params() -> dict[str, torch.Tensor]:
    """A copy of every Pyro parameter (unconstrained)."""
    return {k: v.detach().clone() for k, v in pyro.get_param_store().get_state()["params"].items()}


def _snapshot(result, initial: list[dict], final: list[dict]) -> dict:
    """Parameters at the start and end of the last search, its cell and its logged per-step losses and accuracies."""
    steps = [(r["train_loss_steps"], r["valid_loss_steps"]) for r in result.history]
    accuracies = [(r["train_acc"], r["valid_acc"]) for r in result.history]
    return {
        "initial": initial[-1],
        "params": final[-1],
        "genotype": result.genotype,
        "steps": steps,
        "accuracies": accuracies,
    }


class _Interrupt(KeyboardInterrupt):
    pass


def _worker(rank: int, out: str, port: int) -> None:
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    pyronas.build.get_space = _BatchStatFree
    saves = []
    real_save = pyronas.infer.rundir.save_checkpoint
    pyronas.infer.rundir.save_checkpoint = lambda state, path: saves.append(path) or real_save(state, path)
    initial = []
    real_materialize = pyronas.infer.search.Search._materialize

    def materialize(self):
        real_materialize(self)
        initial.append(_params())

    pyronas.infer.search.Search._materialize = materialize
    final = []  # the search's parameters live in its own param store: read them before run() returns
    real_run = pyronas.infer.search.Search._run

    def run(self, resume):
        history = real_run(self, resume)
        final.append(_params())
        return history

    pyronas.infer.search.Search._run = run
    report = {}
    for method, options in CASES.items():
        # seed=rank: the ranks must adopt rank 0's seed and initial parameters
        result = search(method, seed=rank, out_dir=f"{out}/{method}", **options, **TINY)
        report[method] = _snapshot(result, initial, final)
        if rank == 0:  # the same search in one process, with the whole global batch
            single = search(method, distributed=False, **options, **TINY)
            report[method + "/single"] = _snapshot(single, initial, final)
    report["saves"] = len(saves)

    # interrupted after epoch 1, then resumed by both ranks from rank 0's checkpoint
    real_epoch = pyronas.infer.search.Search._epoch

    def cut(self):
        if self.epoch == 1:
            raise _Interrupt
        return real_epoch(self)

    pyronas.infer.search.Search._epoch = cut
    with pytest.raises(_Interrupt):
        search("drnas", out_dir=f"{out}/cut", **CASES["drnas"], **TINY)
    pyronas.infer.search.Search._epoch = real_epoch
    result = search("drnas", out_dir=f"{out}/cut", resume=True, **CASES["drnas"], **TINY)
    report["resumed"] = _snapshot(result, initial, final)

    # module broadcast: rank-dependent initialisations end as rank 0's
    torch.manual_seed(rank)
    layer = torch.nn.Linear(3, 2)
    before = [t.clone() for t in layer.state_dict().values()]
    World(rank, WORLD, "cpu", distributed=True).broadcast_modules(layer)
    report["broadcast"] = {"before": before, "after": list(layer.state_dict().values())}
    torch.save(report, f"{out}/rank{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> tuple[list[dict], object]:
    out = tmp_path_factory.mktemp("distributed")
    load_digits()  # imports scikit-learn once, here, instead of in each forked worker
    context = mp.start_processes(_worker, args=(str(out), _free_port()), nprocs=WORLD, join=False, start_method="fork")
    deadline = time.monotonic() + 240
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the distributed workers did not finish in time")
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)], out


@pytest.mark.parametrize("method", CASES)
def test_ranks_hold_identical_parameters_and_cell(ranks, method):
    (zero, one), _ = ranks
    assert zero[method]["params"].keys() == one[method]["params"].keys()
    assert any(k.startswith("arch") for k in zero[method]["params"])
    for name, value in zero[method]["params"].items():
        assert torch.equal(value, one[method]["params"][name]), name
    assert zero[method]["genotype"] == one[method]["genotype"]
    assert zero[method]["steps"] == one[method]["steps"], "every rank logs the global batches' losses"
    assert zero[method]["accuracies"] == one[method]["accuracies"]


@pytest.mark.parametrize("method", CASES)
def test_two_ranks_equal_one_process_with_the_global_batch(ranks, method):
    (zero, one), _ = ranks
    single = zero[method + "/single"]
    for name, value in single["params"].items():
        assert torch.allclose(zero[method]["params"][name], value, rtol=0, atol=1e-5), name
    assert zero[method]["genotype"] == single["genotype"]
    moved = max((v - single["initial"][k]).abs().max().item() for k, v in single["params"].items() if "arch" in k)
    assert moved > 1e-3, "the architecture moved far beyond the tolerance"
    # the logged per-step losses and the epochs' accuracies are the global batches'
    assert len(zero[method]["steps"]) == len(single["steps"]) == CASES[method]["epochs"]
    for (t0, v0), (t, v) in zip(zero[method]["steps"], single["steps"]):
        assert len(t0) == len(t) and torch.allclose(torch.tensor(t0), torch.tensor(t), atol=1e-5)
        assert len(v0) == len(v) and torch.allclose(torch.tensor(v0), torch.tensor(v), atol=1e-5)
    for (t0, v0), (t, v) in zip(zero[method]["accuracies"], single["accuracies"]):
        assert t0 == pytest.approx(t) and v0 == pytest.approx(v)


def test_only_rank_zero_writes(ranks):
    (zero, one), out = ranks
    assert zero["saves"] == sum(options["epochs"] for options in CASES.values()) and one["saves"] == 0
    for method, options in CASES.items():
        log = (out / method / "log.jsonl").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in log] == list(range(1, options["epochs"] + 1))
        assert json.loads((out / method / "result.json").read_text())["genotype"] == zero[method]["genotype"]


def test_both_ranks_resume_from_rank_zeros_checkpoint(ranks):
    (zero, one), _ = ranks
    for name, value in zero["drnas"]["params"].items():
        assert torch.equal(zero["resumed"]["params"][name], value), name
        assert torch.equal(one["resumed"]["params"][name], value), name


def test_broadcast_gives_every_rank_rank_zeros_modules(ranks):
    (zero, one), _ = ranks
    assert not all(torch.equal(a, b) for a, b in zip(zero["broadcast"]["before"], one["broadcast"]["before"]))
    for a, b in zip(zero["broadcast"]["before"], one["broadcast"]["after"]):
        assert torch.equal(a, b)


def _images(n: int) -> ImageData:
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return ImageData(images, torch.arange(n) % 4, ["a", "b", "c", "d"], "toy", True)


def test_shards_concatenate_to_the_one_process_batch():
    data = _images(40)
    whole = Batches(data, 12, seed=3)
    shards = [Batches(data, 12, seed=3, rank=r, world_size=3) for r in range(3)]
    assert all(len(s) == len(whole) == 3 and s.batch_size == 4 for s in shards)
    for (x, y), *parts in zip(whole, *shards):
        assert torch.equal(x, torch.cat([p[0] for p in parts])) and torch.equal(y, torch.cat([p[1] for p in parts]))


def test_batch_size_must_split_evenly_across_ranks():
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        Batches(_images(40), 16, rank=0, world_size=3)
    with pytest.raises(ValueError, match="rank must lie"):
        Batches(_images(40), 16, rank=2, world_size=2)


def test_distributed_without_torchrun_is_a_clear_error(monkeypatch, capsys, tmp_path):
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert join_world(None, "cpu") == World(device="cpu")
    assert main(["search", "--distributed", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "torchrun" in err and len(err.splitlines()) == 1


def test_all_reduce_wraps_only_pyro_optimizers():
    assert AllReduce(arch_adam()).lr == 3e-4  # other attributes are the wrapped optimizer's
    with pytest.raises(TypeError, match="PyroOptim"):
        AllReduce(torch.optim.SGD)
