"""``pyronas.testing.check_method`` on every built-in method and space (its negative controls are in
``tests/infer/test_params.py``): model and guide agree on their sites, every tensor of model and guide outside
the supernet differs between the checkpoints after epochs 1 and 2, resume is exact, the cell is valid."""

import pytest

from pyronas.registry import METHODS
from pyronas.spaces import SPACES
from pyronas.testing import check_method


@pytest.mark.parametrize("space", sorted(SPACES))
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_built_in_method_passes_the_method_test_kit(method, space):
    report = check_method(method, space=space)
    assert report["sites"] and all(name.startswith("arch.") for name in report["sites"])
    assert report["parameters"]  # it has architecture parameters, and each one moved (checked inside)
    if method == "bayesnas":  # the hierarchical ARD variances are fitted, not fixed at their initial value
        assert {p.rsplit("_", 2)[-2] for p in report["parameters"] if p.startswith("model.ard.")} == {"op", "edge"}
