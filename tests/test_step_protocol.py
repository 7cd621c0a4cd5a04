"""The step protocol settings (order, Nesterov, clip span, validation batches): resolved per method and space,
reachable as flags and keywords, and left out of the resume key at the behaviour runs before them had."""

import re

import pytest

from pyronas.build import resolve_search
from pyronas.cli import parse_args
from pyronas.config import resolve, search_config, space_protocol
from pyronas.registry import MethodSpec
from pyronas.spaces import get_space

STEP = ("step_order", "nesterov", "grad_clip_span", "valid_batches")


@pytest.mark.parametrize(
    "method, space, expected",
    [
        ("darts", "nb201", ("weights-first", True, "weights+arch-accumulated", "random-replace")),
        ("darts", "darts", ("arch-first", False, "weights", "random")),
        ("drnas", "nb201", ("arch-first", False, "weights+arch", "random")),
        ("drnas", "darts", ("arch-first", False, "weights", "random")),  # DARTS-space alphas: no module params
        ("balenas", "nb201", ("arch-first", False, "weights", "epoch")),
        ("bayesnas", "darts", ("arch-first", False, "weights", "epoch")),
    ],
)
def test_each_method_resolves_its_reference_step_per_space(method, space, expected):
    c, _, _ = resolve_search(method, space=space)
    assert tuple(c[name] for name in STEP) == expected


def test_darts_weight_decay_follows_the_space():
    assert resolve_search("darts", space="nb201")[0]["weight_decay"] == 5e-4  # NB201's DARTS.config
    assert resolve_search("darts", space="darts")[0]["weight_decay"] == 3e-4  # original DARTS code


def test_given_settings_win_over_the_protocol():
    c, _, _ = resolve_search("darts", space="nb201", step_order="arch-first", nesterov=False, valid_batches="epoch")
    assert (c["step_order"], c["nesterov"], c["valid_batches"]) == ("arch-first", False, "epoch")


def test_a_plugin_protocol_differs_per_space_and_is_checked():
    protocol = {"epochs": 3, "valid_batches": "random", "spaces": {"darts": {"step_order": "weights-first"}}}
    assert space_protocol(protocol, "darts") == {"epochs": 3, "valid_batches": "random", "step_order": "weights-first"}
    assert space_protocol(protocol, "nb201") == {"epochs": 3, "valid_batches": "random"}
    with pytest.raises(ValueError, match="unknown step_order 'sideways'"):
        resolve(search_config("drnas"), {"spaces": {"nb201": {"step_order": "sideways"}}}, get_space("nb201"))


@pytest.mark.parametrize(
    "protocol, message",
    [
        ({"spaces": {"nb201": {"step_order": "sideways"}}}, "spaces['nb201'] step_order = 'sideways' is not valid"),
        ({"epoch": 3}, "protocol has no setting 'epoch'; allowed: epochs, warmup_epochs"),
        ({"epochs": "3"}, "protocol epochs = '3' is not valid: it must be an integer"),
        ({"arch_lr": True}, "protocol arch_lr = True is not valid: it must be a number"),
        ({"spaces": {"darts": {"channels": 4}}}, "spaces['darts'] has no setting 'channels'"),
        ({"stages": [{"epochs": 2, "keep": 3}]}, "protocol stages = .* must be a list of stage dicts"),
    ],
)
def test_a_protocol_is_checked_when_the_method_is_made(protocol, message):
    with pytest.raises(ValueError, match=re.escape(message).replace(r"\.\*", ".*")) as error:
        MethodSpec("x", "m:M", "g:G", protocol=protocol)
    assert str(error.value).startswith("method 'x': ") and "\n" not in str(error.value)


def test_flags_parse_into_the_settings():
    argv = ["search", "--step-order", "weights-first", "--nesterov", "--grad-clip-span", "weights+arch"]
    c = parse_args([*argv, "--valid-batches", "random-replace"]).settings
    assert tuple(c[name] for name in STEP) == ("weights-first", True, "weights+arch", "random-replace")
    assert parse_args(["search", "--no-nesterov"]).settings["nesterov"] is False


def test_resume_key_holds_a_setting_only_away_from_the_behaviour_before_it():
    before, _, _ = resolve_search("balenas")
    assert not set(STEP) & set(before.resume_key())  # checkpoints written before the settings still resume
    darts, _, _ = resolve_search("darts")
    assert set(STEP) <= set(darts.resume_key())
    assert darts.resume_key() != darts.replace(valid_batches="random").resume_key()
