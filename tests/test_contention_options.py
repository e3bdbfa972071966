"""[[contention]] with its own query and a lead time, and the SQL runner's fixed or exponential retry backoff,
on a real server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from harness.core.database import Database
from harness.core.errors import PlanError
from harness.events import Events
from harness.inject.contention import ContentionObserver, Injector
from harness.observe.base import ObserverContext
from harness.plan import Contention, RunnerOptions, load_plan
from harness.records.run import Phase, Step
from harness.rundir import RunDir
from harness.upgrade.sql import SqlRunner

from .corpus.run import write_scenario
from .corpus.statements import HARMLESS

HELD = """
SELECT l.mode FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE a.application_name = 'rehearse-contention' AND l.relation = 'ledger'::regclass
"""


@pytest.fixture()
def scenario(tmp_path: Path) -> Path:
    return write_scenario(tmp_path / "scenario", "contention", HARMLESS[:2], rows=100)


@pytest.fixture()
def ledger(database: Database) -> Database:
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, amount int)")
        conn.execute("INSERT INTO ledger SELECT g, g FROM generate_series(1, 100) g")
    return database


def test_contention_entries_take_a_query_and_a_lead_time(scenario: Path) -> None:
    phase = "01-add-column"
    plan = load_plan(scenario, {"contention": [
        {"kind": "idle_in_transaction", "query": "SELECT * FROM big WHERE id = 1 FOR UPDATE", "phase": phase,
         "seconds": 3, "lead_s": 0.5}]})
    (entry,) = plan.contention
    assert (entry.table, entry.query, entry.lead_s, entry.target) == (
        None, "SELECT * FROM big WHERE id = 1 FOR UPDATE", 0.5, "query SELECT * FROM big WHERE id = 1 FOR UPDATE")
    for bad, key, problem in (
            ({"kind": "long_query", "phase": phase}, "contention[0].table", "or give the session's 'query'"),
            ({"kind": "long_query", "table": "big", "phase": phase, "seconds": 2, "lead_s": 2},
             "contention[0].lead_s", "must be shorter than seconds"),
            ({"kind": "long_query", "table": "big", "phase": phase, "lead": 1}, "contention[0].lead",
             "did you mean 'lead_s'")):
        with pytest.raises(PlanError) as caught:
            load_plan(scenario, {"contention": [bad]})
        assert caught.value.key == key and problem in caught.value.problem


def test_a_session_runs_its_own_query_and_holds_its_locks(ledger: Database) -> None:
    contention = Contention("idle_in_transaction", None, "upgrade", 1.0,
                            query="SELECT * FROM ledger WHERE id = 1 FOR UPDATE")
    injector = Injector(ledger, contention, lambda message: None)
    assert injector.start(ready_timeout_s=10)
    try:
        with psycopg.connect(ledger.dsn(), autocommit=True) as conn:
            assert {row[0] for row in conn.execute(HELD)} == {"RowShareLock"}
    finally:
        injector.stop()
    assert injector.record.query == contention.query and injector.record.error is None


def test_a_long_query_of_its_own_ends_when_its_time_is_up(ledger: Database) -> None:
    contention = Contention("long_query", None, "upgrade", 0.6, query="SELECT pg_sleep(30) FROM ledger LIMIT 1")
    errors: list[str] = []
    injector = Injector(ledger, contention, errors.append)
    started = time.monotonic()
    assert injector.start(ready_timeout_s=10)
    injector.stop()
    assert 0.5 <= time.monotonic() - started < 5 and errors == [] and injector.record.error is None


def test_the_phases_first_action_waits_the_lead_time(ledger: Database, scenario: Path, tmp_path: Path) -> None:
    plan = load_plan(scenario, {"contention": [{"kind": "long_transaction", "table": "ledger",
                                                "phase": "01-add-column", "seconds": 2, "lead_s": 0.7}]})
    run = RunDir(tmp_path / "run", "lead")
    (run.path / "streams").mkdir(parents=True)
    events = Events()
    observer = ContentionObserver(ObserverContext(plan, ledger, run, events, lambda s, m: None, lambda line: None))
    observer.attach(events)
    started = time.monotonic()
    events.phase_started.fire(phase=Phase("01-add-column", "1.0", "1.0", time.time()))
    waited = time.monotonic() - started
    try:
        with psycopg.connect(ledger.dsn(), autocommit=True) as conn:
            assert {row[0] for row in conn.execute(HELD)} == {"AccessShareLock"}, "held before the first action"
    finally:
        observer.close()
    assert 0.7 <= waited < 3


@pytest.mark.parametrize(("backoff", "waits"), [("fixed", [0.2, 0.2, 0.2]), ("exponential", [0.2, 0.4, 0.8])])
def test_backoff_is_fixed_or_doubling(backoff: str, waits: list[float]) -> None:
    options = RunnerOptions(retry_backoff_ms=200, retry_backoff=backoff)
    assert [options.backoff_s(attempt) for attempt in (1, 2, 3)] == pytest.approx(waits)
    assert RunnerOptions(retry_backoff_ms=4000).backoff_s(3) == 5.0, "capped"


def test_the_runner_retries_with_a_fixed_backoff(ledger: Database, tmp_path: Path) -> None:
    holder = psycopg.connect(ledger.dsn())
    holder.execute("SELECT count(*) FROM ledger")
    releaser = threading.Timer(0.9, holder.rollback)
    releaser.start()
    steps: list[Step] = []
    path = tmp_path / "001_x.up.sql"
    path.write_text("ALTER TABLE ledger ADD COLUMN note text;")
    options = RunnerOptions(lock_timeout_ms=100, lock_retries=20, retry_backoff_ms=150, retry_backoff="fixed")
    try:
        SqlRunner(ledger, steps.append, options).run([path], "upgrade", "2.0", "up")
    finally:
        releaser.join()
        holder.close()
    assert len(steps) >= 3 and steps[-1].error is None and {s.sqlstate for s in steps[:-1]} == {"55P03"}
    gaps = [b.started - a.ended for a, b in zip(steps, steps[1:], strict=False)]
    assert all(0.14 <= gap < 0.4 for gap in gaps), gaps
