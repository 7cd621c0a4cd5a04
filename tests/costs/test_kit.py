"""A cost-wrapped method passes the plugin test kit: same sites, everything learned, bit-exact resume."""

import pytest

from pyronas.costs import CostPrior, NetworkSize, params_table
from pyronas.registry import METHODS, MethodSpec, get_method
from pyronas.testing import check_method

KIT = NetworkSize(channels=4, cells_per_stage=1, num_classes=10, in_channels=1, image_size=8)  # the kit's digits


def with_cost(method: str, weight: float = 1.0) -> MethodSpec:
    """``method`` with a parameter-cost prior (thousands of parameters of the kit's standalone networks)."""
    base = get_method(method)

    def model(supernet, space):
        return CostPrior(base._load(base.model)(supernet, space), params_table(space, KIT).scaled(1e-3), weight)

    return MethodSpec(f"{method}-cost", model, base.guide, protocol=base.protocol, description="with a cost prior")


@pytest.mark.parametrize("method", ["drnas", "bayesnas"])
def test_a_cost_wrapped_method_passes_the_kit(method):
    spec = with_cost(method)
    try:
        check_method(spec, space="nb201")
    finally:
        METHODS.pop(spec.name, None)  # the kit registers it for the process
