"""The timeline of steps: plan validation of [[timeline]], the action registry, and a rehearsal that upgrades,
rolls back and upgrades again (seven phases) for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.errors import PlanError
from harness.core.streams import JsonLines, read_json_lines
from harness.events import Events
from harness.plan import load_plan
from harness.records.summary import contract_problems
from harness.timeline.actions import ACTIONS, compile_timeline, describe_timeline
from harness.timeline.clock import PhaseClock

from .conftest import REPO
from .leftovers import postgres_temp_dirs, processes_of

REUPGRADE = REPO / "tests" / "scenarios" / "shop_reupgrade"
PHASES = ["baseline", "upgrade", "post_upgrade", "rollback", "post_rollback", "reupgrade", "post_reupgrade"]


def test_a_plan_without_timeline_gets_the_five_default_phases() -> None:
    plan = load_plan(REPO / "scenarios" / "shop", {"phases.baseline_s": 2})
    phases = compile_timeline(plan)
    assert [p.name for p in phases] == ["baseline", "upgrade", "post_upgrade", "rollback", "post_rollback"]
    assert [a.name for a in phases[1].actions] == ["migrate", "swap"]
    assert [a.name for a in phases[3].actions] == ["revert", "swap_back"]
    assert [p.soak_s for p in phases] == [2.0, 0.0, 60.0, 0.0, 30.0]  # the demo soaks 60 s after the upgrade


def test_timeline_phases_and_actions_are_read_in_order() -> None:
    plan = load_plan(REUPGRADE)
    phases = compile_timeline(plan)
    assert [p.name for p in phases] == PHASES
    assert describe_timeline(plan, phases) == [
        "baseline: soak 3 s", "upgrade: migrations of 2.0; swap the service to 2.0", "post_upgrade: soak 3 s",
        "rollback: swap the service back to 1.0; down-migrations of what the upgrade applied",
        "post_rollback: soak 3 s", "reupgrade: migrations of 2.0; swap the service to 2.0",
        "post_reupgrade: soak 2 s; soak 1 s"]
    assert plan.baseline_phase == "baseline"
    assert load_plan(REUPGRADE, {"phases.reupgrade_s": 4}).phase_seconds["reupgrade"] == 4.0


@pytest.mark.parametrize(("overrides", "key", "problem"), [
    ({"timeline": [{"phase": "a", "actions": ["migrat"]}]}, "timeline[0].actions[0]",
     "unknown action 'migrat' (did you mean 'migrate'?)"),
    ({"timeline": [{"phase": "a", "actions": [{"action": "soak", "second": 1}]}]}, "timeline[0].actions[0].second",
     "unknown argument of 'soak'"),
    ({"timeline": [{"phase": "a", "actions": [{"action": "soak", "seconds": -1}]}]}, "timeline[0].actions[0].seconds",
     "must be between 0 and 86400"),
    ({"timeline": [{"phase": "a", "actions": ["migrate"]}, {"phase": "a"}]}, "timeline[1].phase", "unique"),
    ({"timeline": [{"phase": "a", "soak": 3}]}, "timeline[0].soak", "did you mean 'soak_s'?"),
    ({"timeline": [{"phase": "warmup"}]}, "timeline[0].phase", "must be a name"),
    ({"timeline": [{"phase": "a", "actions": [5]}]}, "timeline[0].actions[0]", "must be an action name"),
    ({"phases.upgrad_s": 3}, "phases.upgrad_s", "did you mean 'upgrade_s'?"),
])
def test_bad_timelines_name_the_key(overrides: dict, key: str, problem: str) -> None:
    plan_overrides = {"gates": [], "contention": [], **overrides}
    with pytest.raises(PlanError) as caught:
        compile_timeline(load_plan(REUPGRADE, plan_overrides))
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_gates_may_name_any_phase_of_the_timeline_and_only_those() -> None:
    plan = load_plan(REUPGRADE)
    assert {g.phase for g in plan.gates} == {"post_reupgrade", "reupgrade"}
    with pytest.raises(PlanError, match=r"gates\[0\].phase: no phase 'reupgrad' in the timeline \(did you mean "
                                        r"'reupgrade'\?\)"):
        load_plan(REUPGRADE, {"gates": [{"metric": "p99_ms", "phase": "reupgrad", "max": 1}]})


def test_every_action_describes_itself() -> None:
    assert set(ACTIONS) >= {"migrate", "swap", "revert", "swap_back", "soak"}
    for action in ACTIONS.values():
        assert action.__module__.endswith(action.name), "one module per action, named after it"


def test_phase_clock_streams_and_fires_in_order(tmp_path: Path) -> None:
    events = Events()
    seen: list[str] = []
    events.phase_started.add_listener(lambda phase: seen.append(f"start {phase.name}"))
    events.phase_ending.add_listener(lambda phase: seen.append(f"ending {phase.name}"))
    events.phase_ended.add_listener(lambda phase: seen.append(f"end {phase.name} {phase.to_version}"))
    stream = JsonLines(tmp_path / "phases.jsonl")
    clock = PhaseClock(stream, events)
    with clock.phase("upgrade", "1.0") as phase:
        phase.to_version = "2.0"
    with pytest.raises(KeyboardInterrupt), clock.phase("soak", "2.0"):
        raise KeyboardInterrupt
    stream.close()
    assert seen == ["start upgrade", "ending upgrade", "end upgrade 2.0", "start soak", "end soak 2.0"]
    rows = read_json_lines(tmp_path / "phases.jsonl")
    assert [(r["name"], r["event"]) for r in rows] == [("upgrade", "start"), ("upgrade", "end"), ("soak", "start"),
                                                        ("soak", "stopped")]
    assert rows[1]["ended"] >= rows[1]["started"]


def test_an_observer_that_fails_is_reported_and_the_others_still_run() -> None:
    errors: list[tuple[str, str]] = []
    events = Events(lambda source, message: errors.append((source, message)))
    calls: list[str] = []

    def broken(**_: object) -> None:
        raise ValueError("no connection")

    events.swap_ended.add_listener(broken)
    events.swap_ended.add_listener(lambda **_: calls.append("next"))
    events.swap_ended.fire(swap=None)
    assert calls == ["next"]
    assert errors[0][0].endswith("broken") and "ValueError: no connection" in errors[0][1]
    events.swap_ended.add_listener(lambda **_: (_ for _ in ()).throw(PlanError("plan", "rollback.tables", "bad")))
    with pytest.raises(PlanError):
        events.swap_ended.fire(swap=None)


@pytest.fixture(scope="module")
def reupgrade_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("reupgrade")
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(REUPGRADE), "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    (run_dir,) = out.iterdir()
    assert processes_of(run_dir.name) == [] and postgres_temp_dirs(run_dir.name) == []
    return result, run_dir


@pytest.mark.slow
def test_upgrade_again_after_rollback_has_seven_phases_with_traffic(reupgrade_run) -> None:
    result, run_dir = reupgrade_run
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert contract_problems(summary) == []
    assert [p["name"] for p in summary["phases"]] == PHASES
    for phase in summary["phases"]:
        assert phase["requests"] > 10, phase
    versions = {p["name"]: (p["from_version"], p["to_version"]) for p in summary["phases"]}
    assert versions["upgrade"] == ("1.0", "2.0") and versions["rollback"] == ("2.0", "1.0")
    assert versions["reupgrade"] == ("1.0", "2.0") and versions["post_reupgrade"] == ("2.0", "2.0")
    assert [s["phase"] for s in summary["swaps"]] == ["upgrade", "rollback", "reupgrade"]
    assert [(a["phase"], a["name"], a["status"]) for a in summary["actions"]] == [
        ("upgrade", "migrate", "ok"), ("upgrade", "swap", "ok"), ("rollback", "swap_back", "ok"),
        ("rollback", "revert", "ok"), ("reupgrade", "migrate", "ok"), ("reupgrade", "swap", "ok"),
        ("post_reupgrade", "soak", "ok")]


@pytest.mark.slow
def test_both_upgrades_run_2_0_and_are_blamed_for_their_lock_waits(reupgrade_run) -> None:
    _, run_dir = reupgrade_run
    summary = json.loads((run_dir / "summary.json").read_text())
    for phase in ("upgrade", "reupgrade"):
        statements = [s for s in summary["statements"] if s["phase"] == phase]
        assert {s["version"] for s in statements} == {"2.0"} and {s["direction"] for s in statements} == {"up"}
        add_column = next(s for s in statements if s["sql"] == "ALTER TABLE orders ADD COLUMN currency text")
        assert add_column["blocked_backends"] >= 1 and add_column["max_wait_ms"] > 100, (phase, add_column)
    upgrades = {u["phase"]: u for u in summary["upgrades"]}
    assert set(upgrades) == {"upgrade", "rollback", "reupgrade"}
    assert upgrades["upgrade"]["steps"] == upgrades["reupgrade"]["steps"], "the same migrations, applied again"
    assert upgrades["reupgrade"]["max_wait_ms"] > 100
    md = (run_dir / "summary.md").read_text()
    assert "## Migration phases side by side" in md
    side_by_side = md.split("## Migration phases side by side")[1].split("##")[0]
    assert "| upgrade |" in side_by_side and "| reupgrade |" in side_by_side
    rollback = summary["rollback"]
    assert rollback["checked"] and not rollback["safe"]
    assert [r["check"] for r in rollback["reasons"]] == ["data_destroyed"], "2.0's down-migration drops currency"
    assert rollback["reupgrade"] == {"phase": "reupgrade", "clean": True, "errors": [], "schema_differences": []}
