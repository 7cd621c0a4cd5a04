"""Checkpoints written by the release before the config refactor (79e3a7d) still resume, and end where
that release's uninterrupted search ended."""

import json
import shutil
from pathlib import Path

import pytest

from pyronas.api import search

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXPECTED = json.loads((FIXTURES / "checkpoints_79e3a7d.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_old_checkpoint_resumes_to_the_old_result(name, tmp_path):
    expected = EXPECTED[name]
    shutil.copy(FIXTURES / f"checkpoint_{name}_79e3a7d.pt", tmp_path / "checkpoint.pt")
    # the settings main's digits demo now defaults differently are given as the old run had them, and so is
    # DrNAS's step, which now follows the official code (a fresh random validation batch per step, a clip that
    # counts the architecture gradients)
    same = {k: expected["config"][k] for k in ("arch_weight_decay", "arch_lr")}
    same.update(valid_batches="epoch", grad_clip_span="weights")
    result = search(expected["method"], out_dir=tmp_path, resume=True, **{**expected["kwargs"], **same})
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert [h["train_loss"] for h in result.history] == pytest.approx(expected["train_loss"], rel=1e-4)
    assert result.genotype == expected["genotype"]
    for cell, edges in expected["op_probabilities"].items():
        for edge, ops in edges.items():
            assert result.op_probabilities[cell][edge] == pytest.approx(ops, abs=1e-4)


def test_a_changed_setting_still_refuses_an_old_checkpoint(tmp_path):
    expected = EXPECTED["drnas"]
    shutil.copy(FIXTURES / "checkpoint_drnas_79e3a7d.pt", tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="seed=3 differs from the run's 0; drop it to resume"):
        search("drnas", out_dir=tmp_path, resume=True, **dict(expected["kwargs"], seed=3, arch_weight_decay=1e-3))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_old_checkpoint_resumes_from_its_folder_alone(name, tmp_path):
    """Settings newer than the old run take the behaviour it ran with; nothing needs retyping."""
    expected = EXPECTED[name]
    shutil.copy(FIXTURES / f"checkpoint_{name}_79e3a7d.pt", tmp_path / "checkpoint.pt")
    result = search(out_dir=tmp_path, resume=True, progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert [h["train_loss"] for h in result.history] == pytest.approx(expected["train_loss"], rel=1e-4)
    assert result.genotype == expected["genotype"]
