"""harness.result.analysis on hand-built Frames: which migration step held up which backends and requests.

The timeline's phases are named freely here ("steady", "migrate", "revert", "after"): the first one is the
baseline whatever its name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.core.postgres import MIGRATION_APPLICATION
from harness.records.summary import StatementFigures
from harness.result import analysis
from harness.result.frames import LOCK_COLUMNS, PHASE_COLUMNS, REQUEST_COLUMNS, STATEMENT_COLUMNS, Frames

MIGRATION_PID = 500
APP = "shop"
ACCESS_EXCLUSIVE_ORDERS = [{"mode": "AccessExclusiveLock", "relation": "orders", "is_index": False}]

# --- builders -------------------------------------------------------------------------------------------------


def request(start: float, phase: str, name: str = "/orders", latency_ms: float = 10.0, error: str | None = None,
            sqlstate: str | None = None, status: int = 200) -> dict:
    return {"start": start, "phase": phase, "name": name, "method": "GET", "status": status,
            "latency_ms": latency_ms, "bytes": 100, "error": error, "sqlstate": sqlstate, "worker": 1}


def lock(sampled_at: float, pid: int, waiting_s: float, blocked_by: list[int], root_blocker: int | None,
         phase: str, application: str = APP, root_application: str | None = MIGRATION_APPLICATION,
         chain_depth: int = 1, mode: str = "AccessShareLock", relation: str | None = "orders",
         locktype: str = "relation", query: str = "SELECT * FROM orders WHERE id = $1",
         root_query: str | None = "ALTER TABLE orders ADD COLUMN note text", root_state: str | None = "active",
         state: str = "active") -> dict:
    return {"sampled_at": sampled_at, "phase": phase, "pid": pid, "state": state, "wait_event_type": "Lock",
            "wait_event": locktype, "mode": mode, "locktype": locktype, "relation": relation, "waiting_s": waiting_s,
            "blocked_by": blocked_by, "root_blocker": root_blocker, "chain_depth": chain_depth,
            "application_name": application, "query": query, "root_application": root_application,
            "root_query": root_query, "root_state": root_state}


def step(seq: int, phase: str, started: float, ended: float | None, sql: str = "SELECT 1", txn: int | None = None,
         pid: int | None = MIGRATION_PID, locks: list[dict] | None = None, locks_held: list[dict] | None = None,
         direction: str = "up", sqlstate: str | None = None, error: str | None = None, origin: str = "sql",
         source: str = "002_note.up.sql", version: str = "2.0") -> dict:
    return {"phase": phase, "seq": seq, "version": version, "direction": direction, "source": source, "sql": sql,
            "started": started, "ended": ended,
            "duration_ms": None if ended is None else (ended - started) * 1000, "sqlstate": sqlstate,
            "error": error, "pid": pid, "statement_index": seq - 1 if origin == "sql" else None,
            "txn": seq if txn is None else txn, "attempt": 1, "locks": locks, "locks_held": locks_held,
            "rewrites": None, "origin": origin}


def phase(name: str, started: float, ended: float | None, versions: tuple[str, str] = ("1.0", "1.0")) -> dict:
    return {"name": name, "started": started, "ended": ended, "from_version": versions[0], "to_version": versions[1]}


def frames(requests: list[dict], locks: list[dict], statements: list[dict], phases: list[dict]) -> Frames:
    """Frames typed as frames.load_frames types them."""
    request_frame = pd.DataFrame(requests, columns=REQUEST_COLUMNS)
    request_frame = request_frame.astype({"start": "float64", "latency_ms": "float64", "status": "int64"})
    lock_frame = pd.DataFrame(locks, columns=LOCK_COLUMNS)
    lock_frame = lock_frame.astype({"sampled_at": "float64", "waiting_s": "float64", "pid": "Int64",
                                    "root_blocker": "Int64", "chain_depth": "Int64"})
    statement_frame = pd.DataFrame(statements, columns=STATEMENT_COLUMNS)
    statement_frame = statement_frame.astype({"started": "float64", "ended": "float64", "duration_ms": "float64",
                                              "seq": "Int64", "pid": "Int64", "statement_index": "Int64",
                                              "txn": "Int64", "attempt": "Int64"})
    phase_frame = pd.DataFrame(phases, columns=PHASE_COLUMNS).astype({"started": "float64", "ended": "float64"})
    return Frames(request_frame, lock_frame, statement_frame, phase_frame)


TIMELINE = [phase("steady", 0.0, 100.0), phase("migrate", 100.0, 200.0, ("1.0", "2.0")),
            phase("after", 200.0, 300.0, ("2.0", "2.0"))]


def baseline_requests() -> list[dict]:
    """/orders at 5..10 ms (p99 9.95 ms) and /health at 1..100 ms (p99 99.01 ms) in the baseline phase."""
    orders = [request(1.0 + i, "steady", "/orders", 5.0 + (i % 6)) for i in range(60)]
    health = [request(1.5 + i, "steady", "/health", float(1 + i)) for i in range(100)]
    return orders + health


# Three SQL steps of one upgrade, each its own transaction; B (seq 2) is the one that blocks.
A = step(1, "migrate", 110.0, 111.0, "ALTER TABLE orders ADD COLUMN note text", locks=ACCESS_EXCLUSIVE_ORDERS)
B = step(2, "migrate", 120.0, 125.0, "ALTER TABLE orders ALTER COLUMN id TYPE bigint", locks=ACCESS_EXCLUSIVE_ORDERS)
C = step(3, "migrate", 130.0, 131.0, "CREATE INDEX CONCURRENTLY orders_note ON orders (note)", locks=[])


def by_seq(rows: list[StatementFigures]) -> dict[int, StatementFigures]:
    return {row.seq: row for row in rows}


# --- blame ----------------------------------------------------------------------------------------------------


def blocking_run() -> Frames:
    """Two app backends queue behind step B: 601 from 121.0 (sampled three times, 2 s at most), 602 from 122.0."""
    locks = [lock(121.5, 601, 0.5, [MIGRATION_PID], MIGRATION_PID, "migrate"),
             lock(122.0, 601, 1.0, [MIGRATION_PID], MIGRATION_PID, "migrate"),
             lock(123.0, 601, 2.0, [MIGRATION_PID], MIGRATION_PID, "migrate"),
             lock(123.0, 602, 1.0, [MIGRATION_PID], MIGRATION_PID, "migrate")]
    during_b = [request(121.0, "migrate", "/orders", 2000.0),  # holds 601's wait (121.0-123.0): by lock
                request(122.0, "migrate", "/orders", 1500.0),  # holds 602's wait (122.0-123.0): by lock
                request(123.0, "migrate", "/orders", 30.0),  # 3x /orders' 9.95 ms p99, but not +200 ms: no
                request(123.5, "migrate", "/orders", 5.0),  # fast: not held up
                request(124.0, "migrate", "/health", 50.0)]  # under /health's 99 ms p99: not held up
    slow_elsewhere = [request(110.5, "migrate", "/orders", 800.0),  # during A, which caused no wait: slow
                      request(130.5, "migrate", "/orders", 900.0)]  # during C: slow
    return frames(baseline_requests() + during_b + slow_elsewhere, locks, [A, B, C], TIMELINE)


def test_a_wait_that_began_during_a_step_is_blamed_on_that_step() -> None:
    rows = by_seq(analysis.statement_table(blocking_run()))
    b = rows[2]
    assert (b.blocked_backends, b.max_wait_ms, b.waited_ms) == (2, 2000.0, 0.0)
    assert (b.blocked_requests, b.held_up_by_lock, b.held_up_slow) == (2, 2, 2), \
        "the 30 ms request is not held up: the bar is 3x the baseline p99 and 200 ms more (issue 14)"
    assert b.failed_requests == 0


@pytest.mark.parametrize("seq", [1, 3], ids=["step before", "step after"])
def test_the_wait_is_not_blamed_on_the_steps_around_it(seq: int) -> None:
    other = by_seq(analysis.statement_table(blocking_run()))[seq]
    assert (other.blocked_backends, other.max_wait_ms, other.waited_ms, other.held_up_by_lock) == (0, 0.0, 0.0, 0)


def test_slow_requests_of_a_step_that_caused_no_wait_are_held_up_as_slow_and_raise_its_p99() -> None:
    a = by_seq(analysis.statement_table(blocking_run()))[1]
    assert (a.blocked_requests, a.held_up_by_lock, a.held_up_slow) == (1, 0, 1), "800 ms against a 10 ms p99"
    assert a.p99_during_ms == 800.0
    assert a.added_p99_ms == pytest.approx(800.0 - 98.41)


def test_p99_during_a_step_and_added_p99_against_the_first_phase() -> None:
    b = by_seq(analysis.statement_table(blocking_run()))[2]
    assert b.p99_during_ms == pytest.approx(1980.0), "p99 of 5, 30, 50, 1500, 2000 ms"
    assert b.added_p99_ms == pytest.approx(1980.0 - 98.41), "the whole baseline phase's p99 is 98.41 ms"
    c_no_requests = analysis.statement_table(frames(baseline_requests(), [], [C], TIMELINE))[0]
    assert (c_no_requests.p99_during_ms, c_no_requests.added_p99_ms) == (None, None)


def test_the_migrations_own_wait_is_waited_ms_not_max_wait_ms() -> None:
    """The migration (500) queues 1.5 s behind an idle transaction (700); an app backend (601) queues behind it."""
    contention = "rehearse-contention"
    locks = [lock(120.5, MIGRATION_PID, 0.4, [700], 700, "migrate", application=MIGRATION_APPLICATION,
                  root_application=contention, mode="AccessExclusiveLock"),
             lock(121.6, MIGRATION_PID, 1.5, [700], 700, "migrate", application=MIGRATION_APPLICATION,
                  root_application=contention, mode="AccessExclusiveLock"),
             lock(121.6, 601, 0.8, [MIGRATION_PID], 700, "migrate", root_application=contention, chain_depth=2)]
    b = by_seq(analysis.statement_table(frames(baseline_requests(), locks, [A, B, C], TIMELINE)))[2]
    assert b.waited_ms == 1500.0
    assert (b.blocked_backends, b.max_wait_ms) == (1, 800.0)


def test_only_its_own_wait_leaves_max_wait_ms_at_zero() -> None:
    locks = [lock(121.0, MIGRATION_PID, 0.9, [700], 700, "migrate", application=MIGRATION_APPLICATION,
                  root_application="rehearse-contention", mode="AccessExclusiveLock")]
    b = by_seq(analysis.statement_table(frames(baseline_requests(), locks, [A, B, C], TIMELINE)))[2]
    assert (b.waited_ms, b.max_wait_ms, b.blocked_backends) == (900.0, 0.0, 0)


def test_a_wait_not_involving_the_migration_is_not_blamed() -> None:
    """Two app backends fight over a row while step B runs: nothing to do with the migration."""
    locks = [lock(122.0, 601, 1.0, [602], 602, "migrate", root_application=APP, locktype="transactionid",
                  mode="ShareLock", relation=None, root_query="UPDATE orders SET total = 1 WHERE id = 7")]
    requests = [*baseline_requests(), request(121.5, "migrate", "/orders", 1200.0)]
    b = by_seq(analysis.statement_table(frames(requests, locks, [A, B, C], TIMELINE)))[2]
    assert (b.blocked_backends, b.max_wait_ms, b.waited_ms, b.held_up_by_lock) == (0, 0.0, 0.0, 0)
    assert b.p99_during_ms == 1200.0  # slow all the same: the p99 and the slow count show it, the blame does not
    assert b.held_up_slow == 1


def test_a_wait_is_blamed_through_its_direct_blocker_or_its_root_application() -> None:
    """Involved when the migration's pid is a direct blocker, or the root is a migration session (by name)."""
    locks = [lock(121.0, 601, 0.3, [650, MIGRATION_PID], 650, "migrate", root_application=APP),
             lock(122.0, 602, 0.6, [777], 777, "migrate", root_application=MIGRATION_APPLICATION)]
    b = by_seq(analysis.statement_table(frames(baseline_requests(), locks, [A, B, C], TIMELINE)))[2]
    assert (b.blocked_backends, b.max_wait_ms) == (2, 600.0)


def test_requests_that_failed_during_a_step_are_counted_by_sqlstate_and_endpoint() -> None:
    failing = [request(121.0, "migrate", "/orders", 5000.0, "lock timeout", "55P03", 500),
               request(121.5, "migrate", "/orders", 5000.0, "lock timeout", "55P03", 500),
               request(122.0, "migrate", "/cart", 30.0, "HTTP 502", None, 502),
               request(123.0, "migrate", "/cart", 12.0, "undefined column", "42703", 500),
               request(131.0, "migrate", "/cart", 12.0, "undefined column", "42703", 500)]  # during C
    rows = by_seq(analysis.statement_table(frames(baseline_requests() + failing, [], [A, B, C], TIMELINE)))
    b = rows[2]
    assert b.failed_requests == 4
    assert b.errors_by_sqlstate == {"55P03": 2, "http": 1, "42703": 1}
    assert b.errors_by_endpoint == {"/orders": 2, "/cart": 2}
    assert b.blocked_requests == 0, "no wait: failed requests are not held-up requests"
    assert (rows[3].failed_requests, rows[3].errors_by_sqlstate, rows[3].errors_by_endpoint) == (
        1, {"42703": 1}, {"/cart": 1})
    assert (rows[1].failed_requests, rows[1].errors_by_sqlstate, rows[1].errors_by_endpoint) == (0, {}, {})


def test_held_ms_runs_to_the_end_of_the_steps_transaction() -> None:
    """Steps 1 and 2 share transaction 7 (committed at 115.0); step 3 is alone; step 4 was not traced."""
    steps = [step(1, "migrate", 110.0, 111.0, "ALTER TABLE orders ADD COLUMN note text", txn=7,
                  locks=ACCESS_EXCLUSIVE_ORDERS),
             step(2, "migrate", 111.0, 114.0, "UPDATE orders SET note = ''", txn=7,
                  locks=[{"mode": "RowExclusiveLock", "relation": "orders"}], locks_held=ACCESS_EXCLUSIVE_ORDERS),
             step(3, "migrate", 114.0, 115.0, "COMMIT", txn=7, locks=[]),
             step(4, "migrate", 120.0, 120.25, "ANALYZE orders", txn=8,
                  locks=[{"mode": "ShareUpdateExclusiveLock", "relation": "orders"}]),
             step(5, "migrate", 121.0, 122.0, "SELECT 1", txn=9, locks=None)]
    rows = by_seq(analysis.statement_table(frames(baseline_requests(), [], steps, TIMELINE)))
    assert rows[1].held_ms == pytest.approx(5000.0)
    assert rows[2].held_ms == pytest.approx(4000.0)
    assert rows[4].held_ms == pytest.approx(250.0)
    assert rows[5].held_ms is None, "no lock trace: nothing to say"
    assert rows[2].locks == ["RowExclusiveLock orders"]
    assert rows[2].locks_held == ["AccessExclusiveLock orders"]
    assert rows[1].duration_ms == pytest.approx(1000.0)


def test_a_successful_step_has_no_error_and_a_failed_one_keeps_its_sqlstate() -> None:
    steps = [step(1, "migrate", 110.0, 111.0, "ALTER TABLE orders ADD COLUMN note text"),
             step(2, "migrate", 120.0, 125.0, "ALTER TABLE orders ADD COLUMN x int", sqlstate="55P03",
                  error="canceling statement due to lock timeout")]
    frame = frames(baseline_requests(), [], steps, TIMELINE)
    frame.statements["error"] = frame.statements["error"].astype(object).where(frame.statements["error"].notna(),
                                                                               np.nan)
    rows = by_seq(analysis.statement_table(frame))
    assert (rows[1].sqlstate, rows[1].error) == (None, None), "NaN from the frame is None in the figures"
    assert (rows[2].sqlstate, rows[2].error) == ("55P03", "canceling statement due to lock timeout")


def test_steps_outside_the_timelines_phases_are_left_out_and_the_rest_sorted_by_seq() -> None:
    steps = [step(3, "after", 250.0, 251.0), step(1, "migrate", 110.0, 111.0),
             step(0, "setup", -50.0, -49.0), step(2, "migrate", 112.0, None)]
    rows = analysis.statement_table(frames(baseline_requests(), [], steps, TIMELINE))
    assert [(r.seq, r.phase) for r in rows] == [(1, "migrate"), (2, "migrate"), (3, "after")]
    assert (rows[1].ended, rows[1].duration_ms) == (None, None)


def test_a_wait_that_began_in_the_last_ms_of_a_step_is_not_blamed_on_the_next_one() -> None:
    a = step(1, "migrate", 110.0, 111.0, "ALTER TABLE orders ADD COLUMN note text", locks=ACCESS_EXCLUSIVE_ORDERS)
    b = step(2, "migrate", 111.002, 112.0, "ALTER TABLE orders ADD COLUMN other int", locks=ACCESS_EXCLUSIVE_ORDERS)
    locks = [lock(111.5, 601, 0.505, [MIGRATION_PID], MIGRATION_PID, "migrate")]  # began at 110.995, during A
    rows = by_seq(analysis.statement_table(frames(baseline_requests(), locks, [a, b], TIMELINE)))
    assert (rows[1].blocked_backends, rows[1].max_wait_ms) == (1, pytest.approx(505.0))
    assert (rows[2].blocked_backends, rows[2].max_wait_ms) == (0, 0.0)


# --- command migrations (a tool's step and the statements the tracer saw it run) ------------------------------

TOOL_PID = 800


def command_run() -> Frames:
    """A migration command (no pid of its own) ran one traced ALTER, which queued 1.2 s behind an idle
    transaction (700) while an app backend (601) queued 0.7 s behind it."""
    tool = step(1, "migrate", 110.0, 120.0, "alembic upgrade head", pid=None, origin="command", txn=None,
                source="alembic upgrade head")
    tool["txn"] = None
    traced = step(1, "migrate", 112.0, 114.0, "ALTER TABLE orders ADD COLUMN note text", pid=TOOL_PID,
                  origin="traced", txn=1_000_000, locks=ACCESS_EXCLUSIVE_ORDERS,
                  source="alembic upgrade head (traced)")
    locks = [lock(113.2, TOOL_PID, 1.2, [700], 700, "migrate", application=MIGRATION_APPLICATION,
                  root_application="rehearse-contention", mode="AccessExclusiveLock"),
             lock(113.2, 601, 0.7, [TOOL_PID], 700, "migrate", root_application="rehearse-contention",
                  chain_depth=2)]
    requests = [*baseline_requests(), request(112.5, "migrate", "/orders", 900.0),
                request(113.0, "migrate", "/orders", 800.0)]
    return frames(requests, locks, [tool, traced], TIMELINE)


def test_a_traced_statement_of_a_command_is_blamed_like_a_sql_step() -> None:
    rows = analysis.statement_table(command_run())
    assert [(r.origin, r.seq) for r in rows] == [("command", 1), ("traced", 1)]
    traced = rows[1]
    assert (traced.waited_ms, traced.blocked_backends, traced.max_wait_ms, traced.blocked_requests) == (
        1200.0, 1, 700.0, 2)
    assert traced.held_ms == pytest.approx(2000.0)


def test_a_commands_own_wait_is_waited_ms_not_max_wait_ms() -> None:
    command = analysis.statement_table(command_run())[0]
    assert (command.waited_ms, command.blocked_backends, command.max_wait_ms) == (1200.0, 1, 700.0)


def test_upgrade_table_counts_a_commands_held_up_requests_once() -> None:
    run = command_run()
    statements = analysis.statement_table(run)
    assert [s.blocked_requests for s in statements] == [2, 2]
    upgrade = analysis.upgrade_table(statements, analysis.phase_table(run))[0]
    assert upgrade.blocked_requests == 2


# --- lock waits -----------------------------------------------------------------------------------------------


def chain_locks() -> list[dict]:
    """At 150.0: 700 (idle in transaction) <- migration 500 (3 s) <- app 601 (2 s) <- app 602 (0.5 s).
    Earlier samples of the same waits, a shallower one, and waits outside the timeline's phases."""
    root: dict[str, Any] = {"root_application": "rehearse-contention", "root_query": "SELECT pg_sleep(60)",
                            "root_state": "idle in transaction"}
    return [
        lock(148.0, MIGRATION_PID, 1.0, [700], 700, "migrate", application=MIGRATION_APPLICATION,
             mode="AccessExclusiveLock", query="ALTER TABLE orders ADD COLUMN note text", **root),
        lock(149.0, MIGRATION_PID, 2.0, [700], 700, "migrate", application=MIGRATION_APPLICATION,
             mode="AccessExclusiveLock", query="ALTER TABLE orders ADD COLUMN note text", **root),
        lock(149.0, 601, 1.0, [MIGRATION_PID], 700, "migrate", chain_depth=2, **root),
        lock(150.0, MIGRATION_PID, 3.0, [700], 700, "migrate", application=MIGRATION_APPLICATION,
             mode="AccessExclusiveLock", query="ALTER TABLE orders ADD COLUMN note text", **root),
        lock(150.0, 601, 2.0, [MIGRATION_PID], 700, "migrate", chain_depth=2, **root),
        lock(150.0, 602, 0.5, [601, MIGRATION_PID], 700, "migrate", chain_depth=3, mode="RowExclusiveLock",
             query="INSERT INTO orders VALUES ($1)", **root),
        lock(10.0, 603, 0.25, [604], 604, "warmup", root_application=APP, chain_depth=4),
        lock(400.0, 605, 9.0, [606], 606, "teardown", root_application=APP, chain_depth=5),
    ]


def test_lock_wait_summary_counts_each_wait_once_with_its_longest_wait() -> None:
    waits = analysis.lock_wait_summary(frames([], chain_locks(), [], TIMELINE))
    assert waits.count == 3, "500, 601 and 602, however often sampled; warmup and teardown left out"
    assert waits.max_ms == 3000.0
    assert waits.total_ms == pytest.approx(3000.0 + 2000.0 + 500.0)


def test_a_backend_waiting_twice_is_two_waits() -> None:
    locks = [lock(121.0, 601, 0.5, [MIGRATION_PID], MIGRATION_PID, "migrate"),
             lock(121.5, 601, 1.0, [MIGRATION_PID], MIGRATION_PID, "migrate"),
             lock(131.0, 601, 0.25, [MIGRATION_PID], MIGRATION_PID, "migrate")]  # a new wait from 130.75
    waits = analysis.lock_wait_summary(frames([], locks, [], TIMELINE))
    assert (waits.count, waits.max_ms, waits.total_ms) == (2, 1000.0, 1250.0)


def test_no_lock_samples_no_waits() -> None:
    waits = analysis.lock_wait_summary(frames([], [], [], TIMELINE))
    assert (waits.count, waits.max_ms, waits.total_ms, waits.longest_chain) == (0, 0.0, 0.0, [])


def test_longest_chain_is_root_first() -> None:
    chain = analysis.lock_wait_summary(frames([], chain_locks(), [], TIMELINE)).longest_chain
    assert [(c.pid, c.role, c.application, c.state) for c in chain] == [
        (700, "root blocker", "rehearse-contention", "idle in transaction"),
        (MIGRATION_PID, "waiting", MIGRATION_APPLICATION, "active"),
        (601, "waiting", APP, "active"),
        (602, "waiting", APP, "active"),
    ]
    root, migration, _, leaf = chain
    assert (root.mode, root.relation, root.waiting_ms, root.query) == (None, None, None, "SELECT pg_sleep(60)")
    assert (migration.mode, migration.relation, migration.waiting_ms) == ("AccessExclusiveLock", "orders", 3000.0)
    assert (leaf.mode, leaf.waiting_ms, leaf.query) == ("RowExclusiveLock", 500.0, "INSERT INTO orders VALUES ($1)")


def test_longest_chain_on_equal_depth_takes_the_longest_wait() -> None:
    locks = [lock(121.0, 601, 0.5, [MIGRATION_PID], MIGRATION_PID, "migrate"),
             lock(122.0, 602, 1.5, [MIGRATION_PID], MIGRATION_PID, "migrate"),
             lock(123.0, 603, 1.0, [MIGRATION_PID], MIGRATION_PID, "migrate")]
    chain = analysis.longest_chain(frames([], locks, [], TIMELINE).locks)
    assert [(c.pid, c.role, c.waiting_ms) for c in chain] == [
        (MIGRATION_PID, "root blocker", None), (602, "waiting", 1500.0)]


# --- tables ---------------------------------------------------------------------------------------------------


def figures(seq: int, blocked: int, wait: float, failed: int, phase: str = "migrate", origin: str = "sql",
            direction: str = "up", duration_ms: float | None = 100.0,
            error: str | None = None) -> StatementFigures:
    return StatementFigures(
        phase=phase, seq=seq, version="2.0", direction=direction, source="002.up.sql", origin=origin,
        sql=f"statement {seq}", started=100.0 + seq, ended=100.1 + seq, duration_ms=duration_ms,
        sqlstate="55P03" if error else None, error=error, attempt=1, statement_index=seq, locks=[], locks_held=[],
        rewrites=None, held_ms=None, blocked_backends=1 if wait else 0, max_wait_ms=wait, waited_ms=0.0,
        blocked_requests=blocked, failed_requests=failed, p99_during_ms=None, added_p99_ms=None,
        errors_by_sqlstate={}, errors_by_endpoint={})


def test_top_offenders_rank_held_up_requests_then_longest_wait_then_failures() -> None:
    statements = [figures(1, 0, 0.0, 0), figures(2, 5, 100.0, 0), figures(3, 5, 900.0, 0), figures(4, 0, 50.0, 0),
                  figures(5, 0, 0.0, 7), figures(6, 0, 50.0, 2), figures(7, 12, 10.0, 0)]
    ranked = analysis.top_offenders(statements)
    assert [o.seq for o in ranked] == [7, 3, 2, 6, 4]
    assert [o.seq for o in analysis.top_offenders(statements, limit=10)] == [7, 3, 2, 6, 4, 5], "1 hurt nobody"
    first = ranked[0]
    assert (first.phase, first.sql, first.blocked_requests, first.max_wait_ms, first.failed_requests) == (
        "migrate", "statement 7", 12, 10.0, 0)


def test_top_offenders_of_harmless_statements_is_empty() -> None:
    assert analysis.top_offenders([figures(1, 0, 0.0, 0), figures(2, 0, 0.0, 0)]) == []


def test_error_table_groups_by_phase_endpoint_and_sqlstate_in_timeline_order() -> None:
    requests = [*baseline_requests(),
                request(1.0, "steady", "/cart", 5.0, "HTTP 500", None, 500),
                request(150.0, "migrate", "/orders", 5.0, "lock timeout", "55P03", 500),
                request(151.0, "migrate", "/orders", 5.0, "lock timeout", "55P03", 503),
                request(152.0, "migrate", "/orders", 5.0, "HTTP 502", None, 502),
                request(153.0, "migrate", "/cart", 5.0, "undefined column", "42703", 500),
                request(154.0, "migrate", "/cart", 5.0, "undefined column", "42703", 500),
                request(155.0, "migrate", "/cart", 5.0, "undefined column", "42703", 500),
                request(156.0, "migrate", "/cart", 0.0, "connection refused", None, 0),
                request(250.0, "after", "/orders", 5.0, "weird", "XX999", 500),
                request(-5.0, "warmup", "/orders", 5.0, "not up yet", None, 0),
                request(999.0, "teardown", "/orders", 5.0, "gone", None, 0)]
    rows = analysis.error_table(frames(requests, [], [], TIMELINE))
    assert [(e.phase, e.name, e.sqlstate, e.meaning, e.errors, e.status) for e in rows] == [
        ("steady", "/cart", "http", "", 1, 500),
        ("migrate", "/cart", "42703", "undefined column (schema mismatch)", 3, 500),
        ("migrate", "/orders", "55P03", "lock timeout", 2, 503),
        ("migrate", "/cart", "http", "", 1, 0),
        ("migrate", "/orders", "http", "", 1, 502),
        ("after", "/orders", "XX999", "", 1, 500),
    ]


def test_error_table_without_errors_is_empty() -> None:
    assert analysis.error_table(frames(baseline_requests(), [], [], TIMELINE)) == []


def test_upgrade_table_one_row_per_phase_that_ran_migrations() -> None:
    timeline = [phase("steady", 0.0, 100.0), phase("migrate", 100.0, 200.0, ("1.0", "2.0")),
                phase("after", 200.0, 300.0, ("2.0", "2.0")), phase("revert", 300.0, 400.0, ("2.0", "1.0"))]
    requests = [*baseline_requests(), request(150.0, "migrate", "/orders", 40.0, "boom", "55P03", 500),
                request(350.0, "revert", "/orders", 20.0)]
    run = frames(requests, [], [], timeline)
    statements = [figures(1, 3, 100.0, 1), figures(2, 2, 400.0, 0, duration_ms=250.0, error="lock timeout"),
                  figures(3, 1, 900.0, 0, origin="traced", duration_ms=5000.0),
                  figures(4, 0, 0.0, 2, phase="revert", direction="down", duration_ms=None),
                  figures(5, 1, 30.0, 0, phase="revert", direction="down", duration_ms=50.0)]
    rows = analysis.upgrade_table(statements, analysis.phase_table(run))
    assert [(u.phase, u.direction, u.steps, u.failed_steps, u.duration_ms, u.max_wait_ms, u.failed_requests,
             u.p99_ms, u.errors) for u in rows] == [
        ("migrate", "up", 2, 1, 350.0, 900.0, 1, 40.0, 1),
        ("revert", "down", 2, 0, 50.0, 30.0, 2, 20.0, 0),
    ]
    assert rows[1].blocked_requests == 1


def test_phase_table_in_timeline_order_with_versions_and_rates() -> None:
    timeline = [phase("steady", 0.0, 100.0), phase("migrate", 100.0, 200.0, ("1.0", "2.0")),
                phase("after", 200.0, None, ("2.0", "2.0"))]
    run = frames([*baseline_requests(), request(150.0, "migrate", "/orders", 40.0, "boom", None, 500)], [], [],
                 timeline)
    rows = analysis.phase_table(run)
    assert [(p.name, p.from_version, p.to_version, p.requests, p.errors, p.duration_s) for p in rows] == [
        ("steady", "1.0", "1.0", 160, 0, 100.0), ("migrate", "1.0", "2.0", 1, 1, 100.0),
        ("after", "2.0", "2.0", 0, 0, 0.0)]
    assert rows[0].rps == pytest.approx(1.6)
    assert (rows[1].error_rate, rows[1].p50_ms, rows[1].max_ms) == (1.0, 40.0, 40.0)
    after = rows[2]
    assert (after.ended, after.rps, after.error_rate, after.p50_ms, after.p99_ms, after.max_ms) == (
        200.0, 0.0, 0.0, None, None, None), "a phase that never ended and saw no request"


def test_endpoint_table_orders_by_timeline_phase_then_endpoint() -> None:
    """Timeline order (steady, migrate, after) is not alphabetical (after, migrate, steady)."""
    requests = [request(250.0, "after", "/orders", 8.0), request(251.0, "after", "/cart", 9.0),
                request(150.0, "migrate", "/orders", 40.0, "boom", "55P03", 500),
                request(5.0, "steady", "/orders", 5.0), request(6.0, "steady", "/cart", 6.0),
                request(7.0, "steady", "/cart", 8.0), request(-1.0, "warmup", "/orders", 1.0),
                request(999.0, "teardown", "/orders", 1.0)]
    rows = analysis.endpoint_table(frames(requests, [], [], TIMELINE))
    assert [(e.phase, e.name, e.requests, e.errors) for e in rows] == [
        ("steady", "/cart", 2, 0), ("steady", "/orders", 1, 0), ("migrate", "/orders", 1, 1),
        ("after", "/cart", 1, 0), ("after", "/orders", 1, 0)]
    cart = rows[0]
    assert (cart.p50_ms, cart.max_ms, cart.error_rate) == (7.0, 8.0, 0.0)
    assert rows[2].error_rate == 1.0


def test_the_first_phase_is_the_baseline_whatever_its_name() -> None:
    """The bar for held-up requests comes from the first phase ("before"), not from one called baseline."""
    timeline = [phase("before", 0.0, 100.0), phase("baseline", 100.0, 200.0), phase("cut", 200.0, 300.0)]
    requests = ([request(1.0 + i, "before", "/orders", 100.0) for i in range(10)]
                + [request(101.0 + i, "baseline", "/orders", 1.0) for i in range(10)]
                + [request(221.0, "cut", "/orders", 250.0), request(222.5, "cut", "/orders", 350.0)])
    cut = step(1, "cut", 220.0, 225.0, "ALTER TABLE orders ADD COLUMN note text", locks=ACCESS_EXCLUSIVE_ORDERS)
    locks = [lock(222.0, 601, 1.0, [MIGRATION_PID], MIGRATION_PID, "cut")]
    row = analysis.statement_table(frames(requests, locks, [cut], timeline))[0]
    assert row.blocked_requests == 1, "only the 350 ms request beats the first phase's bar (3 x 100 ms p99)"
    assert row.added_p99_ms == pytest.approx(float(np.percentile([250.0, 350.0], 99)) - 100.0)
