"""Failures mid-migration on a real server: a statement error after some statements committed, a lock_timeout
exhausted, a migration tool killed mid-way, a down-migration that fails. The harness reports what committed,
what the rollback undid, what is left, and the verdict's reasons."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import psycopg
import pytest

from harness.core.database import Database
from harness.core.errors import MigrationError
from harness.core.streams import JsonLines
from harness.events import Events
from harness.plan import load_plan
from harness.upgrade.migrate import Migrator
from harness.verify.rollback import RollbackCheck

from .conftest import REPO

SCENARIO = REPO / "tests" / "scenarios" / "partial_migrations"


def _setup(database: Database, tmp_path: Path, to: str, **overrides: object) -> tuple[Migrator, RollbackCheck]:
    plan = load_plan(SCENARIO, {"versions.to": to, **overrides})
    events = Events()
    migrator = Migrator(plan, database, JsonLines(tmp_path / "statements.jsonl"), tmp_path / "migrations.log",
                        "test", events, lambda message: None)
    migrator.apply(plan.setup_path(), phase="setup")
    migrator.applied.clear()
    check = RollbackCheck(database, [], spec=plan.rollback, allow_leftover=plan.allowed_leftovers())
    check.ledger.upgrade_phase, check.ledger.rollback_phase = "upgrade", "rollback"
    events.step_recorded.add_listener(lambda step, **_: check.ledger.step(step))
    check.before_upgrade()
    return migrator, check


def _upgrade_then_rollback(migrator: Migrator, check: RollbackCheck, kill_after_s: float | None = None) -> str:
    status = "ok"
    try:
        migrator.apply(migrator.plan.upgrade_path(), phase="upgrade", kill_after_s=kill_after_s)
    except MigrationError as failure:
        status = "killed" if "killed" in str(failure) else "failed"
    check.after_upgrade(status)
    check.before_rollback()
    with contextlib.suppress(MigrationError):  # a failed down-migration is what some tests look for
        migrator.revert(phase="rollback")
    check.after_rollback()
    check.close()
    return status


def _columns(database: Database) -> list[str]:
    with psycopg.connect(database.dsn()) as conn:
        return [r[0] for r in conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'items'::regclass "
                                           "AND attnum > 0 AND NOT attisdropped ORDER BY attnum")]


def test_a_statement_error_after_two_commits_is_undone_by_the_down_migration(database: Database,
                                                                             tmp_path: Path) -> None:
    migrator, check = _setup(database, tmp_path, "2.0")
    assert _upgrade_then_rollback(migrator, check) == "failed"
    state = check.result().migration
    assert state is not None
    assert state.upgrade == "failed" and state.steps_ran == 2 and state.partial == ["001_columns.up.sql"]
    assert state.failed_step is not None and "22012" in state.failed_step, "division by zero, with its SQLSTATE"
    assert state.undone == ["001_columns.down.sql"] and state.down_failed is None
    assert _columns(database) == ["id", "name"] and check.result().safe, check.result().reasons


def test_an_exhausted_lock_timeout_leaves_the_partial_state_reported(database: Database, tmp_path: Path) -> None:
    migrator, check = _setup(database, tmp_path, "2.0", **{"upgrade.lock_timeout_ms": 100})
    holder = psycopg.connect(database.dsn())
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        conn.execute("ALTER TABLE items ADD COLUMN a int")  # the first statement now fails at once: column exists
        conn.execute("ALTER TABLE items DROP COLUMN a")
    holder.execute("LOCK TABLE items IN ACCESS SHARE MODE")  # held while the DDL queues behind it
    try:
        with pytest.raises(MigrationError) as failure:
            migrator.apply(migrator.plan.upgrade_path(), phase="upgrade")
    finally:
        holder.rollback()
        holder.close()
    assert failure.value.step.sqlstate == "55P03"
    check.after_upgrade("failed")
    check.before_rollback()
    check.after_rollback()
    check.close()
    state = check.result().migration
    assert state is not None and state.steps_ran == 0 and state.partial == [] and state.undone == []
    assert check.result().safe, "nothing committed, nothing left"


def test_a_migration_killed_mid_way_is_rolled_back_by_its_tool(database: Database, tmp_path: Path) -> None:
    migrator, check = _setup(database, tmp_path, "3.0")
    assert _upgrade_then_rollback(migrator, check, kill_after_s=0.9) == "killed"
    state = check.result().migration
    assert state is not None and state.upgrade == "killed"
    assert state.failed_step is not None and "killed by the harness after 0.9 s" in state.failed_step
    assert state.versions["before upgrade"] == ["(absent)"]
    assert state.versions["after upgrade"] in (["(s1)", "(s2)"], ["(s1)"]), "part of the steps committed"
    assert state.versions["after rollback"] == [], "the tool's down undid what committed"
    assert state.undone and _columns(database) == ["id", "name"]
    assert any(line.startswith("+ table public.tool_versions") for line in check.result().schema_diff), \
        "the tool's own table is left over, and said so"


def test_a_down_migration_that_fails_makes_the_rollback_unsafe(database: Database, tmp_path: Path) -> None:
    migrator, check = _setup(database, tmp_path, "2.0-bad-down")
    assert _upgrade_then_rollback(migrator, check) == "ok"
    result = check.result()
    assert result.migration is not None and result.migration.down_failed is not None
    assert "42703" in result.migration.down_failed
    reasons = {r.check: r for r in result.reasons}
    assert "down_migration_failed" in reasons and "the rollback cannot run" in reasons["down_migration_failed"].message
    assert "schema_not_back" in reasons, "column a is still there"


def test_kill_waits_for_nothing_when_no_migration_runs(database: Database, tmp_path: Path) -> None:
    migrator, check = _setup(database, tmp_path, "2.0")
    check.close()
    started = time.monotonic()
    timer = threading.Timer(0.01, migrator.kill, [0.01])
    timer.start()
    timer.join()
    assert time.monotonic() - started < 2
