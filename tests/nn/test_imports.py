import subprocess
import sys
from pathlib import Path

import pytest

NN = Path(__file__).resolve().parents[2] / "pyronas" / "nn"
# network modules that use the spaces' notation, which is where an import cycle could come from
MODULES = sorted(f"pyronas.nn.{p.stem}" for p in NN.glob("*.py") if "pyronas.spaces" in p.read_text())


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module):
    """Each network module imports on its own in a fresh interpreter (no import cycle with pyronas.spaces)."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]
