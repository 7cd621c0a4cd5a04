"""The settings a search resolves equal those of the release before the config refactor (79e3a7d),
for every registered method x space and the option combinations that change defaults."""

import json
from pathlib import Path

import pytest

from pyronas import api
from pyronas.cli import DEMO_DEFAULTS
from pyronas.registry import get_method
from pyronas.spaces import get_space

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORD = json.loads((FIXTURES / "resolved_settings_79e3a7d.json").read_text())
CASES = RECORD["cases"]


def _resolved(case: dict) -> dict:
    """Today's ``(config, stages)`` for one recorded case, or ``{"error": message}``."""
    a = dict(case["args"])
    if case["cli"]:
        demo = DEMO_DEFAULTS.get(case["dataset"], {})
        a.setdefault("epochs", demo.get("epochs"))
        a.setdefault("cells_per_stage", demo.get("cells_per_stage"))
    spec, space = get_method(case["method"]), get_space(case["space"])
    schedule_args = {k: a.pop(k, None) for k in ("progressive", "stages")}
    try:
        schedule = api._schedule(
            case["method"],
            spec.protocol,
            a.get("epochs"),
            a.get("warmup_epochs"),
            bool(schedule_args["progressive"]),
            a.get("partial_channels"),
            schedule_args["stages"],
        )
        full = dict(
            epochs=None,
            warmup_epochs=None,
            partial_channels=None,
            cells_per_stage=None,
            weight_decay=None,
            arch_optim=None,
            arch_lr=None,
            arch_weight_decay=None,
            elbo="trace",
            method_options=None,
            amp=None,
            compile=False,
            single_path=False,
            image_size=None,
        )
        full.update(a)
        config, schedule = api._search_config(
            spec.protocol,
            space,
            schedule,
            method=case["method"],
            space=case["space"],
            dataset=case["dataset"],
            **full,
            **RECORD["signature_defaults"],
        )
    except ValueError as e:
        return {"error": str(e)}
    return {"config": config, "stages": None if schedule is None else [vars(s) for s in schedule]}


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c['method']}-{c['space']}-{c['dataset']}-{c['cli']}-{c['variant']}"
)
def test_resolved_settings_match_the_previous_release(case):
    got = _resolved(case)
    if "error" in case:
        assert "error" in got
        return
    assert got == {"config": case["config"], "stages": case["stages"]}
