"""The notebooks are executed by nbmake as part of the test suite; these check how they are set up."""

import os
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_pytest_runs_the_notebooks_in_smoke_mode(pytestconfig):
    assert "notebooks" in pytestconfig.getini("testpaths")
    assert "--nbmake" in pytestconfig.getini("addopts")
    assert os.environ["PYRONAS_SMOKE"] == "1"  # set by tests/conftest.py, inherited by the kernels
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean_and_has_a_smoke_switch(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert any('os.environ.get("PYRONAS_SMOKE")' in cell.source for cell in code)
