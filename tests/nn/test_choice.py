"""Choice and WidthChoice: mixing math, skipping zero weights, fixing, errors."""

import pytest
import torch
from torch import nn

from pyronas.nn import Choice, WidthChoice
from pyronas.nn.choice import decisions, mixing


class Counting(nn.Module):
    """Multiplies by ``factor`` and counts its calls."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor, self.calls = factor, 0

    def forward(self, x):
        self.calls += 1
        return self.factor * x


def test_choice_mixes_candidates():
    choice = Choice({"a": Counting(1.0), "b": Counting(2.0), "c": Counting(-3.0)}, label="op")
    x = torch.randn(2, 4, 3, 3)
    w = torch.tensor([0.2, 0.5, 0.3])
    choice.set_weights(w)
    expected = 0.2 * x + 0.5 * 2.0 * x + 0.3 * -3.0 * x
    assert torch.allclose(choice(x), expected)


def test_choice_gradient_reaches_weights():
    choice = Choice({"id": nn.Identity(), "double": Counting(2.0)})
    x = torch.ones(1, 2)
    w = torch.tensor([0.4, 0.6], requires_grad=True)
    choice.set_weights(w)
    choice(x).sum().backward()
    assert torch.allclose(w.grad, torch.tensor([2.0, 4.0]))


def test_choice_skips_candidates_of_weight_exactly_zero():
    a, b = Counting(1.0), Counting(2.0)
    choice = Choice({"a": a, "b": b})
    choice.set_weights(torch.tensor([0.0, 1.0]))
    x = torch.randn(3, 2)
    assert torch.equal(choice(x), 2.0 * x) and (a.calls, b.calls) == (0, 1)
    choice.set_weights(torch.zeros(2))  # all weights 0: zeros of the output shape
    assert torch.equal(choice(x), torch.zeros_like(x))


def test_choice_without_weights_says_how_to_run_it():
    choice = Choice({"a": nn.Identity()}, label="kernel")
    with pytest.raises(RuntimeError, match="'kernel' has no mixing weights"):
        choice(torch.ones(1))


def test_choice_checks_weight_shape_and_names():
    choice = Choice({"a": nn.Identity(), "b": nn.Identity()})
    with pytest.raises(ValueError, match="2 candidates"):
        choice.set_weights(torch.ones(3))
    with pytest.raises(ValueError, match="no candidate 'c'"):
        choice.fix("c")


def test_fixed_choice_runs_one_candidate():
    a, b = Counting(1.0), Counting(2.0)
    choice = Choice({"a": a, "b": b}, label="op")
    choice.fix("b")
    x = torch.randn(2, 2)
    assert torch.equal(choice(x), 2.0 * x) and a.calls == 0 and choice.fixed == "b"
    choice.fix(None)
    with pytest.raises(RuntimeError):
        choice(x)


def test_width_choice_masks_channels():
    width = WidthChoice(4, [1, 3], label="width")
    assert width.candidate_names == ("1", "3")
    x = torch.ones(2, 4, 2, 2)
    width.set_weights(torch.tensor([0.25, 0.75]))
    out = width(x)
    # sum_k w_k mask_k x: channel 0 in both masks, channels 1-2 only in width 3, channel 3 in none
    assert torch.allclose(out[:, :, 0, 0], torch.tensor([1.0, 0.75, 0.75, 0.0]).expand(2, 4))
    width.fix("3")
    assert torch.equal(width(x)[0, :, 0, 0], torch.tensor([1.0, 1.0, 1.0, 0.0]))


def test_width_choice_refuses_bad_widths_and_channels():
    with pytest.raises(ValueError, match="widths must lie"):
        WidthChoice(4, [0, 4])
    width = WidthChoice(4, [2, 4])
    width.set_weights(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="expects 4 channels"):
        width(torch.ones(1, 3))


def test_mixing_shares_weights_by_label_and_clears_them():
    net = nn.Sequential(
        Choice({"a": Counting(1.0), "b": Counting(2.0)}, label="shared"),
        Choice({"a": Counting(1.0), "b": Counting(2.0)}, label="shared"),
        Choice({"x": nn.Identity(), "y": Counting(3.0)}),
    )
    assert [label for label, _ in decisions(net)] == ["shared", "shared", "2"]  # unlabelled: its path
    weights = {"shared": torch.tensor([0.0, 1.0]), "2": torch.tensor([1.0, 0.0])}
    x = torch.ones(1, 1)
    with mixing(net, weights):
        assert torch.equal(net(x), 4.0 * x)
    with pytest.raises(RuntimeError):
        net(x)
    with pytest.raises(ValueError, match="no mixing weights for choice"):
        with mixing(net, {"shared": torch.ones(2)}):
            pass
