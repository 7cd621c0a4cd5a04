"""Every way a model can hold a learned hyperparameter is learned, checkpointed and resumed exactly, or refused.

Each pattern is a DARTS model whose logits get a Normal prior with a learned scale, held as: a PyroParam of a
PyroModule child of a plain model (the pattern that left BayesNAS's ARD variances unfitted), a PyroParam of a
PyroModule model, a plain ``pyro.param``, and an ``nn.Parameter`` of a plain model.
"""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.distributions import constraints
from pyro.nn import PyroModule, PyroParam
from pyronas.guides.darts import DARTSGuide

from pyronas.build import build_search
from pyronas.infer.params import ParameterError
from pyronas.infer.primitives import classify
from pyronas.registry import METHODS, MethodSpec
from pyronas.testing import TINY, check_method


class _Prior(torch.nn.Module):
    """A DARTS model with prior ``N(0, scale)`` on the logits; subclasses say where ``scale`` lives."""

    def __init__(self, supernet, space):
        super().__init__()
        self.supernet, self.space = supernet, space

    def scale(self) -> torch.Tensor:
        raise NotImplementedError

    def arch(self):
        out = {}
        for cell, shape in self.space.arch_shape.items():
            prior = dist.Normal(torch.zeros(shape), self.scale()).to_event(2)
            out[cell] = pyro.sample(f"arch.{cell}.logits", prior).softmax(-1)
        return out

    def forward(self, images, labels=None):
        return classify(self.supernet, images, labels, self.arch())


class ChildPyroModule(_Prior):
    def __init__(self, supernet, space):
        super().__init__(supernet, space)
        self.hyper = PyroModule(name="hyper")
        self.hyper.scale = PyroParam(torch.tensor(2.0), constraints.positive)

    def scale(self):
        return self.hyper.scale


class PyroModel(PyroModule):
    def __init__(self, supernet, space):
        super().__init__(name="model")
        self.supernet, self.space = supernet, space
        self.prior_scale = PyroParam(torch.tensor(2.0), constraints.positive)

    arch = _Prior.arch
    forward = _Prior.forward

    def scale(self):
        return self.prior_scale


class PlainPyroParam(_Prior):
    def scale(self):
        return pyro.param("prior_scale", torch.tensor(2.0), constraint=constraints.positive)


class PlainParameter(_Prior):
    def __init__(self, supernet, space):
        super().__init__(supernet, space)
        self.log_scale = torch.nn.Parameter(torch.tensor(0.5))

    def scale(self):
        return self.log_scale.exp()


PATTERNS = {
    ChildPyroModule: "model.hyper.scale_unconstrained",
    PyroModel: "model.prior_scale_unconstrained",
    PlainPyroParam: "param_store.prior_scale",
    PlainParameter: "model.log_scale",
}


def _spec(model: type) -> MethodSpec:
    return MethodSpec(f"test-{model.__name__.lower()}", model, DARTSGuide, protocol={"epochs": 2})


@pytest.mark.parametrize("model", list(PATTERNS), ids=lambda m: m.__name__)
def test_a_learned_hyperparameter_is_learned_saved_and_resumed(model):
    spec = _spec(model)
    try:
        report = check_method(spec)  # moves between epochs 1 and 2, resumes bit for bit
    finally:
        METHODS.pop(spec.name, None)
    assert PATTERNS[model] in report["parameters"]  # it exists in the checkpoint, and (checked) it moved


def test_the_architecture_optimizer_steps_a_pyromodule_held_by_a_plain_model():
    parts = build_search(method="bayesnas", epochs=1, **{k: v for k, v in TINY.items() if k != "epochs"})
    ard = dict(parts.model.ard.named_parameters())
    assert set(ard) == {"cell_op_unconstrained", "cell_edge_unconstrained"}
    before = {k: v.detach().clone() for k, v in ard.items()}
    with parts.activate():
        images, labels = next(iter(parts.valid))
        parts.runner().svi.step_arch(images, labels)
        names = set(pyro.get_param_store().keys())
    assert {"ard.cell_op", "ard.cell_edge"} <= names
    assert all(not torch.equal(before[k], v) for k, v in ard.items())


class RequiresGradTensor(_Prior):
    def __init__(self, supernet, space):
        super().__init__(supernet, space)
        self.log_scale = torch.zeros((), requires_grad=True)

    def scale(self):
        return self.log_scale.exp()


class SameNames(ChildPyroModule):
    def __init__(self, supernet, space):
        super().__init__(supernet, space)
        self.other = PyroModule(name="hyper")
        self.other.scale = PyroParam(torch.tensor(3.0), constraints.positive)


@pytest.mark.parametrize(
    "model, message",
    [
        (RequiresGradTensor, r"^test-requiresgradtensor's model.log_scale is a tensor with requires_grad=True"),
        (SameNames, r"^test-samenames: two parameters .* both be learned as 'hyper.scale'"),
    ],
)
def test_a_parameter_that_cannot_be_learned_is_refused_when_the_pair_is_built(model, message):
    spec = _spec(model)
    from pyronas.registry import register

    register(spec)
    try:
        with pytest.raises(ParameterError, match=message) as error:
            build_search(method=spec.name, **TINY)
    finally:
        METHODS.pop(spec.name, None)
    assert "\n" not in str(error.value)


class Detached(ChildPyroModule):
    """Negative control: the scale is used without its gradient, so it is never learned."""

    def scale(self):
        return self.hyper.scale.detach()


class CountsCalls(ChildPyroModule):
    """Negative control: state outside tensors (a call counter) that a checkpoint cannot restore."""

    calls = 0

    def scale(self):
        CountsCalls.calls += 1
        return self.hyper.scale * (1.0 + 1e-3 * CountsCalls.calls)


@pytest.mark.parametrize(
    "model, message",
    [(Detached, "is not learned"), (CountsCalls, "resumed search differs")],
    ids=["unlearned", "resume"],
)
def test_check_method_catches_what_it_checks(model, message):
    spec = _spec(model)
    try:
        with pytest.raises(AssertionError, match=message):
            check_method(spec)
    finally:
        METHODS.pop(spec.name, None)
