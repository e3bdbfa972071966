"""Issue 14 on hand-built frames and summaries: failed steps vs retried attempts, held-up requests by lock and
by margin, offenders per phase, blame by window (statements, swap, service), gates limited to a phase and a
cause, the default gate set. Each test names the defect it pins down."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import PlanError
from harness.core.postgres import MIGRATION_APPLICATION
from harness.plan import Gate, default_gates, load_plan
from harness.records.summary import CauseFigures, SwapFigures, WaitFigures, to_json
from harness.report.markdown import render_markdown
from harness.result import analysis
from harness.result.build import blame
from harness.verify.gates import evaluate, observe
from tests.unit.builders import statement_figures, summary
from tests.unit.test_blame import (
    ACCESS_EXCLUSIVE_ORDERS,
    MIGRATION_PID,
    TIMELINE,
    baseline_requests,
    frames,
    lock,
    request,
    step,
)

REPO = Path(__file__).resolve().parents[2]


# --- migration_errors ----------------------------------------------------------------------------------------


def test_migration_errors_counts_the_failed_step_only_whatever_the_frame_holds_for_the_others() -> None:
    """Defect: NaN error fields read as true, so every statement counted once one failed."""
    steps = [step(1, "migrate", 110.0, 111.0), step(2, "migrate", 112.0, 113.0),
             step(3, "migrate", 114.0, 115.0, sqlstate="42703", error="column does not exist")]
    frame = frames(baseline_requests(), [], steps, TIMELINE)
    for column in ("error", "sqlstate"):
        frame.statements[column] = frame.statements[column].astype(object).where(frame.statements[column].notna(),
                                                                                 np.nan)
    statements = analysis.statement_table(frame)
    assert analysis.migration_errors(statements) == 1
    (result,) = evaluate([Gate("migration_errors", None, None, max=0.0, min=None)],
                         summary(statements=statements))
    assert result.observed == 1.0


def test_a_lock_timeout_attempt_that_was_retried_is_not_a_migration_error() -> None:
    """Defect: retried-then-successful lock_timeout attempts counted as errors."""
    first = step(1, "migrate", 110.0, 110.2, "ALTER TABLE orders ADD COLUMN note text", sqlstate="55P03",
                 error="canceling statement due to lock timeout")
    second = step(2, "migrate", 110.5, 110.7, "ALTER TABLE orders ADD COLUMN note text") | {"attempt": 2,
                                                                                             "statement_index": 0}
    first["statement_index"] = 0
    statements = analysis.statement_table(frames(baseline_requests(), [], [first, second], TIMELINE))
    assert [s.retried for s in statements] == [True, False]
    assert (analysis.migration_errors(statements), analysis.migration_retries(statements)) == (0, 1)
    gates = [Gate("migration_errors", None, None, max=0.0, min=None),
             Gate("migration_retries", "migrate", None, max=5.0, min=None)]
    assert [(r.observed, r.passed) for r in evaluate(gates, summary(statements=statements))] == [
        (0.0, True), (1.0, True)]
    upgrade = analysis.upgrade_table(statements, analysis.phase_table(frames(baseline_requests(), [],
                                                                             [first, second], TIMELINE)))[0]
    assert (upgrade.failed_steps, upgrade.retried_steps) == (0, 1)


def test_a_final_failure_after_retries_is_one_error_and_its_earlier_attempts_retries() -> None:
    attempts = [step(i, "migrate", 110.0 + i, 110.2 + i, "ALTER TABLE orders ADD COLUMN note text",
                     sqlstate="55P03", error="canceling statement due to lock timeout") | {"attempt": i}
                for i in (1, 2, 3)]
    statements = analysis.statement_table(frames(baseline_requests(), [], attempts, TIMELINE))
    assert (analysis.migration_errors(statements), analysis.migration_retries(statements)) == (1, 2)


def test_migration_errors_is_a_number_in_summary_json_even_without_statements() -> None:
    data = json.loads(json.dumps(to_json(summary())))
    assert data["migration_errors"] == 0 and data["migration_retries"] == 0


def test_a_successful_statement_reads_ok_in_the_report_never_nan() -> None:
    """Defect: successful statements rendered as "nan: nan"."""
    steps = [step(1, "migrate", 110.0, 111.0, "ALTER TABLE orders ADD COLUMN note text")]
    frame = frames(baseline_requests(), [], steps, TIMELINE)
    frame.statements["error"] = frame.statements["error"].astype(object).where(frame.statements["error"].notna(),
                                                                               np.nan)
    md = render_markdown(summary(statements=analysis.statement_table(frame)))
    assert "nan" not in md.lower().replace("nanosecond", "")
    assert "| ok |" in md


# --- held up -------------------------------------------------------------------------------------------------


def fast_baseline() -> list[dict]:
    """/orders at 1..3 ms in the baseline: p99 about 3 ms."""
    return [request(1.0 + i / 10, "steady", "/orders", 1.0 + (i % 3)) for i in range(100)]


def test_held_up_is_not_the_baseline_p99_alone() -> None:
    """Defect: with a 3 ms baseline p99 as the bar, every 100 ms request counted as held up. Now: it waited on a
    lock the migration caused (the wait lies within it), or it is 3x the p99 and 200 ms slower."""
    b = step(2, "migrate", 120.0, 125.0, "ALTER TABLE orders ALTER COLUMN id TYPE bigint",
             locks=ACCESS_EXCLUSIVE_ORDERS)
    locks = [lock(122.0, 601, 1.0, [MIGRATION_PID], MIGRATION_PID, "migrate")]  # 601 waited 121.0 .. 122.0
    during = [request(120.5, "migrate", "/orders", 100.0),  # slow against 3 ms, but only by 97 ms: not held up
              request(120.9, "migrate", "/orders", 1200.0),  # its time holds 601's wait: held up by lock (and slow)
              request(123.0, "migrate", "/orders", 450.0)]  # no wait in it, but > 3 ms + 200 ms: held up, slow
    (row,) = analysis.statement_table(frames(fast_baseline() + during, locks, [b], TIMELINE))
    assert (row.held_up_by_lock, row.held_up_slow, row.blocked_requests) == (1, 2, 2)
    assert row.request_wait_ms == 1000.0


def test_a_failed_request_is_failed_not_held_up() -> None:
    b = step(2, "migrate", 120.0, 125.0, locks=ACCESS_EXCLUSIVE_ORDERS)
    during = [request(121.0, "migrate", "/orders", 2000.0, "HTTP 500", "55P03", 500)]
    (row,) = analysis.statement_table(frames(fast_baseline() + during, [], [b], TIMELINE))
    assert (row.failed_requests, row.blocked_requests) == (1, 0)


# --- offenders -----------------------------------------------------------------------------------------------


def test_offenders_are_ranked_per_phase_the_upgrade_first() -> None:
    """Defect: the blast radius ranked rollback statements with upgrade ones, so the upgrade's offender could
    come second."""
    statements = [statement_figures(1, "ALTER TABLE orders ADD COLUMN note text", phase="upgrade", blocked_requests=5,
                                    max_wait_ms=300.0),
                  statement_figures(2, "CREATE INDEX orders_note ON orders (note)", phase="upgrade",
                                    blocked_requests=2, max_wait_ms=900.0),
                  statement_figures(3, "ALTER TABLE orders DROP COLUMN note", phase="rollback", direction="down",
                                    blocked_requests=50, max_wait_ms=4000.0)]
    ranked = [(o.phase, o.rank, o.seq) for o in analysis.top_offenders(statements)]
    assert ranked == [("upgrade", 1, 1), ("upgrade", 2, 2), ("rollback", 1, 3)]
    assert analysis.top_offenders(statements, limit=1)[0].seq == 1


# --- blame by window -----------------------------------------------------------------------------------------


def swap_run():
    """A harmless statement (110-111), a swap (150.0 stopped, 151.0 healthy) that loses three requests, and the
    service's own failure later (170)."""
    requests = [*baseline_requests(), request(110.5, "migrate", "/orders", 5.0),
                request(149.9, "migrate", "/orders", 200.0, "ConnectionResetError", None, 0),
                request(150.2, "migrate", "/orders", 1.0, "ConnectionRefusedError", None, 0),
                request(150.6, "migrate", "/orders", 1.0, "ConnectionRefusedError", None, 0),
                request(151.5, "migrate", "/orders", 5.0), request(170.0, "migrate", "/orders", 5.0, "HTTP 500",
                                                                   None, 500)]
    steps = [step(1, "migrate", 110.0, 111.0, "ALTER TABLE orders ADD COLUMN note text", locks=ACCESS_EXCLUSIVE_ORDERS)]
    swaps = [SwapFigures("1.0", "2.0", 1.0, phase="migrate", stopped_at=150.0, healthy_at=151.0)]
    return frames(requests, [], steps, TIMELINE), swaps


def test_requests_are_blamed_on_the_swap_the_statements_or_the_service() -> None:
    """Defect: the stop-then-start swap's lost requests failed every upgrade phase's gates."""
    run, swaps = swap_run()
    causes, _ = blame(run, swaps)
    by = {(c.phase, c.cause): c for c in causes if c.endpoint is None}
    assert (by[("migrate", "swap")].requests, by[("migrate", "swap")].errors) == (3, 3)
    assert (by[("migrate", "statements")].requests, by[("migrate", "statements")].errors) == (1, 0)
    assert (by[("migrate", "service")].requests, by[("migrate", "service")].errors) == (2, 1)
    assert by[("migrate", "all")].errors == 4
    assert by[("migrate", "swap")].seconds == pytest.approx(1.0)
    assert by[("migrate", "statements")].seconds == pytest.approx(1.0)


def test_the_default_gates_pass_a_harmless_migration_whose_swap_drops_requests_and_judge_the_service() -> None:
    run, swaps = swap_run()
    causes, waits = blame(run, swaps)
    statements = analysis.statement_table(run)
    judged = summary(statements=statements, causes=causes, waits=waits, swaps=swaps, downtime_s=1.0,
                     phases=analysis.phase_table(run))
    timeline = load_plan(REPO / "scenarios" / "shop").timeline
    results = {r.name: (r.observed, r.passed) for r in evaluate(default_gates(timeline), judged)}
    assert results["failed_requests[cause=statements] <= 0"] == (0.0, True)
    assert results["request_lock_wait_max_ms[cause=statements] <= 500"] == (0.0, True)
    assert results["migration_errors <= 0"] == (0.0, True)
    assert results["downtime_s <= 5"] == (1.0, True)
    rate, passed = results["error_rate[cause=service] <= 0.01"]
    assert not passed and rate == pytest.approx(1 / 2), "the service's own error after the swap counts"
    with_swap_gate = evaluate([Gate("failed_requests", None, None, max=0.0, min=None, cause="swap")], judged)
    assert (with_swap_gate[0].observed, with_swap_gate[0].passed) == (3.0, False), "a zero-downtime demand"


def test_a_blocking_statement_fails_the_default_gates() -> None:
    b = step(2, "migrate", 120.0, 125.0, "ALTER TABLE orders ALTER COLUMN id TYPE bigint",
             locks=ACCESS_EXCLUSIVE_ORDERS)
    locks = [lock(123.0, 601, 2.0, [MIGRATION_PID], MIGRATION_PID, "migrate")]
    run = frames([*baseline_requests(), request(121.0, "migrate", "/orders", 2100.0)], locks, [b], TIMELINE)
    causes, waits = blame(run, [])
    judged = summary(statements=analysis.statement_table(run), causes=causes, waits=waits,
                     phases=analysis.phase_table(run))
    failed = [r.name for r in evaluate(default_gates(()), judged) if not r.passed]
    assert failed == ["request_lock_wait_max_ms[cause=statements] <= 500"]


# --- waits by whose and by cause -----------------------------------------------------------------------------


def test_requests_waits_and_the_migrations_own_waits_are_separate_metrics() -> None:
    """The migration (500) queues 1.5 s behind an idle transaction; an app backend waits 0.8 s behind it."""
    locks = [lock(121.6, MIGRATION_PID, 1.5, [700], 700, "migrate", application=MIGRATION_APPLICATION,
                  root_application="rehearse-contention", mode="AccessExclusiveLock"),
             lock(121.6, 601, 0.8, [MIGRATION_PID], 700, "migrate", root_application="rehearse-contention",
                  chain_depth=2),
             lock(10.0, 602, 0.3, [603], 603, "steady", root_application="shop")]  # app vs app, in the baseline
    b = step(2, "migrate", 120.0, 125.0, locks=ACCESS_EXCLUSIVE_ORDERS)
    run = frames(baseline_requests(), locks, [b], TIMELINE)
    causes, waits = blame(run, [])
    s = summary(causes=causes, waits=waits)

    def value(metric: str, **where: str) -> float | None:
        return observe(Gate(metric, where.get("phase"), None, max=1.0, min=None, cause=where.get("cause")), s)

    assert value("request_lock_wait_max_ms") == 800.0
    assert value("migration_lock_wait_max_ms") == 1500.0
    assert value("lock_wait_max_ms") == 1500.0
    assert value("lock_wait_total_ms", phase="migrate") == pytest.approx(2300.0)
    assert value("request_lock_wait_max_ms", cause="statements") == 800.0
    assert value("request_lock_wait_max_ms", cause="service") == 300.0, "the baseline's app-vs-app wait"
    assert value("request_lock_wait_max_ms", phase="migrate", cause="service") == 0.0
    assert value("request_lock_wait_total_ms", phase="steady") == pytest.approx(300.0)


def test_every_metric_but_rollback_safe_can_be_limited_to_a_phase(tmp_path: Path) -> None:
    """Defect: lock_wait_max_ms could not be limited to a phase."""
    shop = REPO / "scenarios" / "shop"
    plan = load_plan(shop, {"gates": [{"metric": "lock_wait_max_ms", "phase": "upgrade", "max": 500},
                                      {"metric": "migration_errors", "phase": "rollback", "max": 0},
                                      {"metric": "downtime_s", "phase": "upgrade", "max": 3},
                                      {"metric": "failed_requests", "phase": "upgrade", "cause": "statements",
                                       "max": 0},
                                      {"metric": "p99_ms", "cause": "service", "endpoint": "/orders/[id]",
                                       "max": 100}]})
    assert [g.name for g in plan.gates] == [
        "lock_wait_max_ms[upgrade] <= 500", "migration_errors[rollback] <= 0", "downtime_s[upgrade] <= 3",
        "failed_requests[upgrade,cause=statements] <= 0", "p99_ms[/orders/[id],cause=service] <= 100"]
    assert not plan.default_gates


@pytest.mark.parametrize(("gate", "key", "problem"), [
    ({"metric": "rollback_safe", "phase": "upgrade", "min": 1}, "gates[0].phase", "the whole rollback"),
    ({"metric": "migration_errors", "cause": "swap", "max": 0}, "gates[0].cause", "cannot be limited to a cause"),
    ({"metric": "downtime_s", "endpoint": "/x", "max": 1}, "gates[0].endpoint", "not measured per endpoint"),
    ({"metric": "p99_ms", "cause": "swop", "max": 1}, "gates[0].cause", "did you mean 'swap'"),
    ({"metric": "held_up_requests", "max": 0, "phase": "upgrad"}, "gates[0].phase", "did you mean 'upgrade'"),
])
def test_bad_gates_name_the_key(gate: dict, key: str, problem: str) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(REPO / "scenarios" / "shop", {"gates": [gate]})
    assert caught.value.key == key and problem in caught.value.problem


def test_a_plan_without_gates_gets_the_default_set_and_an_empty_list_opts_out(tmp_path: Path) -> None:
    scenario = tmp_path / "reupgrade"
    source = (REPO / "tests" / "scenarios" / "shop_reupgrade" / "rehearsal.toml").read_text()
    scenario.mkdir()
    text = source[:source.index("[[gates]]")].replace("../../../", str(REPO) + "/")
    (scenario / "rehearsal.toml").write_text(text)
    plan = load_plan(scenario)
    assert plan.default_gates and [g.name for g in plan.gates] == [
        "migration_errors <= 0", "request_lock_wait_max_ms[cause=statements] <= 500",
        "failed_requests[cause=statements] <= 0", "error_rate[cause=service] <= 0.01", "downtime_s <= 5",
        "rollback_safe >= 1"]
    none = load_plan(scenario, {"gates": []})
    assert none.gates == [] and not none.default_gates


def test_one_phase_alone_leaves_out_other_phases_gates_and_limits_the_others() -> None:
    causes = [CauseFigures(p, c, None, 1.0, 10, e, e / 10, 10.0, 1.0, 2.0, 3.0, 4.0, 0, 0, 0)
              for p, c, e in (("calm", "all", 0), ("calm", "statements", 0), ("cutover", "all", 2),
                              ("cutover", "statements", 2))]
    waits = [WaitFigures(p, "all", "all", 1, m, m) for p, m in (("calm", 10.0), ("cutover", 900.0))]
    s = summary(causes=causes, waits=waits)
    gates = [Gate("failed_requests", None, None, max=0.0, min=None, cause="statements"),
             Gate("lock_wait_max_ms", "cutover", None, max=500.0, min=None),
             Gate("rollback_safe", None, None, max=None, min=1.0)]
    calm = evaluate(gates, s, phase="calm")
    assert [(r.name, r.observed, r.passed) for r in calm] == [("failed_requests[calm,cause=statements] <= 0", 0.0,
                                                               True)]
    cutover = evaluate(gates, s, phase="cutover")
    assert [(r.observed, r.passed) for r in cutover] == [(2.0, False), (900.0, False)]
    assert [(r.observed, r.passed) for r in evaluate(gates, replace(s))][:2] == [(2.0, False), (900.0, False)]
