"""Honest verdicts: a failed migration, a phase without traffic, a fault each fail the run with their own reason;
a failure the plan expects does not. The verdict is judged on the typed summary (verify.verdict.judge)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.core.errors import PlanError
from harness.plan import load_plan
from harness.records.run import ActionRecord, Fault, RollbackResult
from harness.records.summary import LoadSettings, LockWaits, PhaseFigures, Summary
from harness.timeline.actions import compile_timeline
from harness.verify.verdict import judge

from .test_kills import KILL_POINTS

PLAN = load_plan(KILL_POINTS)


def _phase(name: str, requests: int = 100, seconds: float = 3.0) -> PhaseFigures:
    return PhaseFigures(name=name, started=0.0, ended=seconds, from_version="v1", to_version="v1",
                        duration_s=seconds, requests=requests, errors=0, error_rate=0.0, rps=requests / seconds,
                        p50_ms=1.0, p95_ms=2.0, p99_ms=3.0, max_ms=4.0)


def _summary(**changes: object) -> Summary:
    base = Summary(
        scenario="kill-points", from_version="v1", to_version="v2", environment="local", verdict="fail",
        exit_code=1, started="2026-01-01T00:00:00Z", duration_s=10.0, incomplete=None,
        phases=[_phase(name) for name in PLAN.phase_names], endpoints=[], statements=[], top_offenders=[],
        errors=[], lint_check=[], lock_waits=LockWaits(0, 0.0, 0.0, []), downtime_s=0.5, swaps=[],
        rollback=RollbackResult(safe=True, checked=True), invalid_indexes=[], contention=[], timings={},
        load=LoadSettings(4, 4.0, 50.0, 20000), observer_errors=[], artifacts={}, gates=[],
        actions=[ActionRecord("upgrade", "migrate", "migrations of v2", 1.0, 2.0, "ok")])
    return replace(base, **changes)  # type: ignore[arg-type]


def _migrate(status: str, expect_failure: bool = False) -> list[ActionRecord]:
    return [ActionRecord("upgrade", "migrate", "migrations of v2", 1.0, 2.0, status,  # type: ignore[arg-type]
                         "001_x.up.sql: 57014 canceling statement due to statement timeout",
                         expect_failure=expect_failure)]


def test_a_clean_run_passes() -> None:
    judged = judge(PLAN, _summary())
    assert (judged.verdict, judged.exit_code, judged.failures) == ("pass", 0, [])


def test_a_failed_migration_fails_the_verdict_with_its_own_reason() -> None:
    judged = judge(PLAN, _summary(actions=_migrate("failed")))
    assert (judged.verdict, judged.exit_code) == ("fail", 1)
    (failure,) = judged.failures
    assert failure.kind == "migration_failed" and "57014" in failure.message and failure.phase == "upgrade"


def test_a_failed_revert_fails_it_too() -> None:
    actions = [ActionRecord("rollback", "revert", "down", 1.0, 2.0, "failed", "exit code 1: boom")]
    assert [f.kind for f in judge(PLAN, _summary(actions=actions)).failures] == ["migration_failed"]


def test_an_expected_failure_passes_and_a_missing_one_fails() -> None:
    assert judge(PLAN, _summary(actions=_migrate("failed", expect_failure=True))).verdict == "pass"
    judged = judge(PLAN, _summary(actions=_migrate("ok", expect_failure=True)))
    assert [f.kind for f in judged.failures] == ["expected_failure_missing"] and judged.exit_code == 1


def test_a_migration_errors_gate_judges_migration_errors_itself() -> None:
    plan = load_plan(KILL_POINTS, {"gates": [{"metric": "migration_errors", "max": 5}]})
    assert judge(plan, _summary(actions=_migrate("failed"))).verdict == "pass"


def test_a_phase_without_traffic_fails_but_a_split_second_one_does_not() -> None:
    phases = [_phase("baseline"), _phase("upgrade", requests=0, seconds=0.4), _phase("post_upgrade", requests=0)]
    judged = judge(PLAN, _summary(phases=phases))
    assert [(f.kind, f.phase) for f in judged.failures] == [("no_traffic", "post_upgrade")]
    assert judged.phases[2].error_rate == 0.0, "error_rate alone would have passed it"


def test_a_fault_fails_the_verdict_with_exit_code_3() -> None:
    fault = Fault("service_died", "the service exited with code -9", 5.0, "baseline")
    judged = judge(PLAN, _summary(faults=[fault]))
    assert (judged.verdict, judged.exit_code) == ("fail", 3)
    assert [(f.kind, f.phase) for f in judged.failures] == [("service_died", "baseline")]


def test_outage_s_is_a_gate_metric() -> None:
    plan = load_plan(KILL_POINTS, {"gates": [{"metric": "outage_s", "max": 2}]})
    judged = judge(plan, _summary(outage_s=3.9, downtime_s=0.53))
    assert [f.kind for f in judged.failures] == ["gate"] and judged.gates[0].observed == 3.9


@pytest.mark.parametrize(("action", "problem"), [
    ({"action": "migrate", "expect_failure": "yes"}, "must be bool"),
    ({"action": "migrate", "expect_failur": True}, "did you mean 'expect_failure'?"),
    ({"action": "swap", "expect_failure": True}, "unknown argument of 'swap'"),
])
def test_expect_failure_is_validated(action: dict, problem: str) -> None:
    with pytest.raises(PlanError) as caught:
        compile_timeline(load_plan(KILL_POINTS, {"phases": {}, "timeline": [{"phase": "a", "actions": [action]}]}))
    assert problem in caught.value.problem


def test_expect_failure_reaches_the_action() -> None:
    plan = load_plan(KILL_POINTS, {"phases": {}, "timeline": [{"phase": "a", "actions": [
        {"action": "migrate", "expect_failure": True}, "revert"]}]})
    migrate, revert = compile_timeline(plan)[0].actions
    assert migrate.expect_failure and not revert.expect_failure  # type: ignore[attr-defined]
    assert migrate.describe(plan).endswith("(expected to fail)")
