"""--tensorboard: a tiny digits search writes the epoch scalars that TensorBoard reads back."""

import importlib.util

import pytest

from pyronas.api import search
from pyronas.spaces import get_space

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None,
    reason="tensorboard is not installed (pip install -e '.[tensorboard]' or '.[dev]')",
)
TINY = dict(dataset="digits", train_size=64, batch_size=32, channels=4, cells_per_stage=1, progress=False)


def test_search_logs_losses_accuracies_entropy_and_op_probabilities_per_epoch(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = search("drnas", epochs=2, warmup_epochs=1, tensorboard=True, out_dir=tmp_path, **TINY)
    board = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0})
    board.Reload()
    tags = set(board.Tags()["scalars"])
    for name in ("train_loss", "train_acc", "entropy"):
        values = board.Scalars(name)
        assert [e.step for e in values] == [1, 2], name
        assert [e.value for e in values] == pytest.approx([r[name] for r in result.history], rel=1e-6), name
    # no architecture step (nor its validation) in the warm-up epoch
    assert [e.step for e in board.Scalars("valid_loss")] == [2]
    assert board.Scalars("valid_acc")[0].value == pytest.approx(result.history[1]["valid_acc"])
    space = get_space("nb201")
    probs = [t for t in tags if t.startswith("op_probabilities/")]
    assert len(probs) == len(space.edge_names) * len(space.ops)
    final = result.history[-1]["op_probabilities"]["cell"]
    for edge, edge_name in enumerate(space.edge_names):  # tagged by edge and op names, e.g. .../cell/2<-1/none
        row = [board.Scalars(f"op_probabilities/cell/{edge_name}/{op}")[-1].value for op in space.ops]
        assert row == pytest.approx(final[edge], rel=1e-6)
        assert sum(row) == pytest.approx(1.0, abs=1e-5)
