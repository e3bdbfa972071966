"""Package releases add their actions to the timeline: the quarantine in a setup stage, first; the cleanup
right after the first swap, unless the plan places it; a plan cannot place the quarantine."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import PlanError
from harness.plan import load_plan
from harness.timeline.actions import SETUP, compile_timeline, describe_timeline, split_setup

from ..conftest import REPO

SHOP = REPO / "scenarios" / "shop"


def _names(phases: list) -> list[tuple[str, list[str]]]:
    return [(p.name, [a.name for a in p.actions]) for p in phases]


def test_without_packages_the_timeline_is_as_planned() -> None:
    assert SETUP not in [p.name for p in compile_timeline(load_plan(SHOP))]


def test_a_package_release_gets_a_quarantine_first_and_its_cleanup_after_the_swap(
        demo_packages: dict[str, Path]) -> None:
    plan = load_plan(SHOP, {"versions.to": str(demo_packages["2.1"])})
    phases = compile_timeline(plan)
    assert _names(phases)[:3] == [("setup", ["quarantine"]), ("baseline", []),
                                  ("upgrade", ["migrate", "swap", "cleanup"])]
    setup, timeline = split_setup(phases)
    assert [a.name for a in setup] == ["quarantine"] and timeline[0].name == "baseline"
    lines = describe_timeline(plan, phases)
    assert lines[0] == ("setup: quarantine the packages of 2.1 (schedules off, endpoints to a local stub, rehearsal "
                        "credentials)")
    assert "post-upgrade cleanup: order_currency flag on; migration-progress webhook removed" in lines[2]


def test_a_plan_may_place_the_cleanup_but_not_the_quarantine(demo_packages: dict[str, Path]) -> None:
    timeline = {"timeline": [{"phase": "baseline", "soak_s": 1}, {"phase": "upgrade", "actions": ["migrate", "swap"]},
                             {"phase": "after", "actions": [{"action": "soak", "seconds": 1}, "cleanup"]}]}
    overrides = {"versions.to": str(demo_packages["2.1"]), "timeline": timeline["timeline"], "gates": [],
                 "phases": {}}
    plan = load_plan(SHOP, overrides)
    assert _names(compile_timeline(plan))[1:] == [("baseline", []), ("upgrade", ["migrate", "swap"]),
                                                  ("after", ["soak", "cleanup"])]
    timeline["timeline"][0]["actions"] = ["quarantine"]
    with pytest.raises(PlanError, match="'quarantine' is added by the timeline itself"):
        compile_timeline(load_plan(SHOP, overrides))
