"""verify.gates.evaluate and verify.verdict.judge on hand-built Summaries (nothing run, nothing measured)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.plan import Gate, Plan, TimelinePhase
from harness.records.run import RollbackResult, Stop
from harness.records.summary import LockWaits, Summary
from harness.verify.gates import evaluate, observe
from harness.verify.verdict import judge
from tests.unit.builders import endpoint_figures, phase_figures, statement_figures, summary


def run(**values: Any) -> Summary:
    """The builder: a three-phase run (calm, cutover, settle) with two endpoints, unless `values` say otherwise.

    p99_ms per phase: calm 20, cutover 480, settle 35; error_rate 0, 0.02, 0.001; rps 50, 12, 48.
    /orders p99: 25, 900, 40; /health p99: 2, 3, 2.5."""
    phases = [phase_figures("calm", p99_ms=20.0, error_rate=0.0, rps=50.0),
              phase_figures("cutover", p99_ms=480.0, error_rate=0.02, rps=12.0, to_version="2.0"),
              phase_figures("settle", p99_ms=35.0, error_rate=0.001, rps=48.0, from_version="2.0",
                            to_version="2.0")]
    endpoints = [endpoint_figures(p, "/orders", p99_ms=v) for p, v in (("calm", 25.0), ("cutover", 900.0),
                                                                       ("settle", 40.0))]
    endpoints += [endpoint_figures(p, "/health", p99_ms=v) for p, v in (("calm", 2.0), ("cutover", 3.0),
                                                                        ("settle", 2.5))]
    return summary(**({"phases": phases, "endpoints": endpoints} | values))


def gate(metric: str, max: float | None = None, min: float | None = None, phase: str | None = None,
         endpoint: str | None = None) -> Gate:
    return Gate(metric=metric, phase=phase, endpoint=endpoint, max=max, min=min)


def plan(*gates: Gate) -> Plan:
    timeline = tuple(TimelinePhase(name, (), 0.0, f"timeline[{i}]") for i, name in
                     enumerate(("calm", "cutover", "settle")))
    return Plan(path=Path("/plans/shop/rehearsal.toml"), scenario="shop", environment="local", network="bridge",
                postgres_bin=None, postgres_image="postgres:16", database="shop", from_version="1.0",
                to_version="2.0", releases={}, health_path="/health", service_env={}, start_timeout_s=30.0,
                stop_timeout_s=10.0, seed_command=None, seed_rows=1000, locustfile=Path("locustfile.py"), users=4,
                spawn_rate=4.0, load_env={}, timeline=timeline, lock_sample_interval_ms=100.0, rollback_tables=[],
                gates=list(gates))


def one(g: Gate, s: Summary | None = None) -> tuple[float | None, bool]:
    (result,) = evaluate([g], s or run())
    return result.observed, result.passed


# --- phase metrics -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "passed"), [(480.0, True), (479.9, False), (1000.0, True)])
def test_a_max_bound_passes_up_to_and_including_the_limit(limit: float, passed: bool) -> None:
    assert one(gate("p99_ms", max=limit)) == (480.0, passed)


@pytest.mark.parametrize(("limit", "passed"), [(12.0, True), (12.1, False), (0.0, True)])
def test_a_min_bound_passes_from_the_limit_up(limit: float, passed: bool) -> None:
    assert one(gate("rps", min=limit)) == (12.0, passed)


@pytest.mark.parametrize(("metric", "bound", "worst"), [
    ("p99_ms", "max", 480.0), ("p95_ms", "max", 240.0), ("p50_ms", "max", 120.0), ("max_ms", "max", 1440.0),
    ("error_rate", "max", 0.02), ("rps", "min", 12.0), ("p99_ms", "min", 20.0),
])
def test_with_no_phase_named_the_worst_phase_is_judged(metric: str, bound: str, worst: float) -> None:
    g = gate(metric, max=1.0) if bound == "max" else gate(metric, min=1.0)
    assert observe(g, run()) == pytest.approx(worst)


@pytest.mark.parametrize(("phase", "observed", "passed"), [("calm", 20.0, True), ("cutover", 480.0, False),
                                                           ("settle", 35.0, True)])
def test_a_named_phase_is_judged_alone(phase: str, observed: float, passed: bool) -> None:
    assert one(gate("p99_ms", max=100.0, phase=phase)) == (observed, passed)


def test_an_endpoint_gate_judges_that_endpoints_worst_phase() -> None:
    assert one(gate("p99_ms", max=500.0, endpoint="/orders")) == (900.0, False)
    assert one(gate("p99_ms", max=5.0, endpoint="/health")) == (3.0, True)


def test_an_endpoint_gate_in_a_named_phase() -> None:
    assert one(gate("p99_ms", max=50.0, phase="settle", endpoint="/orders")) == (40.0, True)
    assert one(gate("p99_ms", max=50.0, phase="cutover", endpoint="/orders")) == (900.0, False)
    assert one(gate("p99_ms", min=2.2, phase="settle", endpoint="/health")) == (2.5, True)


def test_an_endpoint_gate_ignores_the_phase_figures() -> None:
    only_phases = run(endpoints=[])
    assert one(gate("p99_ms", max=10_000.0, endpoint="/orders"), only_phases) == (None, False)


@pytest.mark.parametrize("g", [
    gate("p99_ms", max=100.0, endpoint="/nowhere"),
    gate("p99_ms", max=100.0, phase="elsewhere"),
    gate("p99_ms", max=100.0, phase="cutover", endpoint="/nowhere"),
], ids=["unknown endpoint", "unknown phase", "unknown endpoint in a phase"])
def test_a_gate_with_nothing_observed_fails(g: Gate) -> None:
    assert one(g) == (None, False)


def test_a_phase_without_requests_has_nothing_to_judge() -> None:
    quiet = run(phases=[phase_figures("calm", p99_ms=None, rps=0.0)], endpoints=[])
    assert one(gate("p99_ms", max=100.0)) == (480.0, False)
    assert one(gate("p99_ms", max=100.0), quiet) == (None, False)
    assert one(gate("p99_ms", min=0.0), quiet) == (None, False), "even a bound anything would meet"
    assert one(gate("rps", min=0.0), quiet) == (0.0, True), "rps of a quiet phase is 0, not unknown"


def test_phases_without_requests_are_skipped_for_the_worst() -> None:
    s = run(phases=[phase_figures("calm", p99_ms=20.0), phase_figures("cutover", p99_ms=None),
                    phase_figures("settle", p99_ms=35.0)])
    assert one(gate("p99_ms", max=30.0), s) == (35.0, False)


# --- run-wide metrics ----------------------------------------------------------------------------------------


def test_lock_wait_metrics() -> None:
    s = run(lock_waits=LockWaits(count=3, max_ms=1250.0, total_ms=2100.0, longest_chain=[]))
    assert one(gate("lock_wait_max_ms", max=1000.0), s) == (1250.0, False)
    assert one(gate("lock_wait_max_ms", max=1250.0), s) == (1250.0, True)
    assert one(gate("lock_wait_total_ms", max=2000.0), s) == (2100.0, False)
    assert one(gate("lock_wait_total_ms", max=5000.0), s) == (2100.0, True)


def test_no_lock_waits_is_zero_not_unknown() -> None:
    assert one(gate("lock_wait_max_ms", max=0.0)) == (0.0, True)


def test_downtime() -> None:
    assert one(gate("downtime_s", max=1.0), run(downtime_s=0.75)) == (0.75, True)
    assert one(gate("downtime_s", max=1.0), run(downtime_s=2.5)) == (2.5, False)


@pytest.mark.parametrize(("rollback", "observed", "passed"), [
    (RollbackResult(safe=True, checked=True), 1.0, True),
    (RollbackResult(safe=False, checked=True, schema_diff=["- orders.note text"]), 0.0, False),
    (RollbackResult(safe=False, checked=False, error="the run did not get that far"), 0.0, False),
], ids=["safe", "unsafe", "not checked"])
def test_rollback_safe(rollback: RollbackResult, observed: float, passed: bool) -> None:
    assert one(gate("rollback_safe", min=1.0), run(rollback=rollback)) == (observed, passed)


def test_migration_errors_counts_failed_steps() -> None:
    statements = [statement_figures(1, "ALTER TABLE orders ADD COLUMN note text"),
                  statement_figures(2, "CREATE INDEX orders_note ON orders (note)", sqlstate="55P03",
                                    error="canceling statement due to lock timeout"),
                  statement_figures(3, "ALTER TABLE orders ADD COLUMN x int", sqlstate="42701",
                                    error='column "x" of relation "orders" already exists')]
    assert one(gate("migration_errors", max=0.0), run(statements=statements)) == (2.0, False)
    assert one(gate("migration_errors", max=2.0), run(statements=statements)) == (2.0, True)
    assert one(gate("migration_errors", max=0.0), run(statements=statements[:1])) == (0.0, True)


# --- results -------------------------------------------------------------------------------------------------


def test_results_keep_the_gates_order_name_bound_and_limit() -> None:
    gates = [gate("p99_ms", max=500.0, phase="cutover", endpoint="/orders"), gate("rps", min=10.0),
             gate("downtime_s", max=0.0)]
    results = evaluate(gates, run(downtime_s=0.5))
    assert [(r.name, r.metric, r.phase, r.endpoint, r.bound, r.limit, r.observed, r.passed) for r in results] == [
        ("p99_ms[cutover,/orders] <= 500", "p99_ms", "cutover", "/orders", "max", 500.0, 900.0, False),
        ("rps >= 10", "rps", None, None, "min", 10.0, 12.0, True),
        ("downtime_s <= 0", "downtime_s", None, None, "max", 0.0, 0.5, False),
    ]


def test_no_gates_no_results() -> None:
    assert evaluate([], run()) == []


# --- the verdict ---------------------------------------------------------------------------------------------


def test_judge_passes_when_every_gate_passes() -> None:
    judged = judge(plan(gate("p99_ms", max=500.0), gate("rps", min=10.0)), run(verdict="fail", exit_code=1))
    assert (judged.verdict, judged.exit_code) == ("pass", 0)
    assert [g.passed for g in judged.gates] == [True, True]


def test_judge_fails_with_exit_code_1_when_one_gate_fails() -> None:
    judged = judge(plan(gate("p99_ms", max=500.0), gate("error_rate", max=0.01)), run())
    assert (judged.verdict, judged.exit_code) == ("fail", 1)
    assert [(g.name, g.passed) for g in judged.gates] == [("p99_ms <= 500", True), ("error_rate <= 0.01", False)]


def test_judge_fails_a_gate_with_nothing_observed() -> None:
    judged = judge(plan(gate("p99_ms", max=500.0, endpoint="/gone")), run())
    assert (judged.verdict, judged.exit_code, judged.gates[0].observed) == ("fail", 1, None)


def test_judge_without_gates_passes() -> None:
    judged = judge(plan(), run())
    assert (judged.verdict, judged.exit_code, judged.gates) == ("pass", 0, [])


def test_judge_returns_a_new_summary() -> None:
    before = run(verdict="fail", exit_code=1)
    judged = judge(plan(gate("rps", min=1.0)), before)
    assert (before.verdict, before.exit_code, before.gates) == ("fail", 1, [])
    assert judged is not before and judged.phases == before.phases


@pytest.mark.parametrize(("kind", "exit_code"), [("interrupted", 130), ("environment", 3), ("input", 2),
                                                 ("crash", 4)])
def test_a_stopped_run_fails_with_the_stops_exit_code(kind: str, exit_code: int) -> None:
    stop = Stop(kind, "why it stopped")  # type: ignore[arg-type]
    stopped = run(stopped=stop, incomplete=kind, reached_phase="cutover")
    judged = judge(plan(gate("p99_ms", max=10_000.0)), stopped)
    assert (judged.verdict, judged.exit_code) == ("fail", exit_code)
    assert [(g.observed, g.passed) for g in judged.gates] == [(480.0, True)], "gates still judged, for the report"


def test_a_stopped_run_without_gates_fails_too() -> None:
    judged = judge(plan(), run(stopped=Stop("interrupted", "interrupted")))
    assert (judged.verdict, judged.exit_code) == ("fail", 130)
