"""Deadlines: a migration statement and a migration command that hang are cancelled at their deadline, the
statement that hung is named, and a rehearsal goes on to the rollback with a failing verdict."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from harness.core.database import Database
from harness.core.errors import MigrationError
from harness.core.postgres import MIGRATION_APPLICATION, QUERY_CANCELED
from harness.events import Events
from harness.plan import DEFAULT_STEP_DEADLINE_S, RunnerOptions, load_plan
from harness.records.run import Step
from harness.upgrade.command import CommandRunner
from harness.upgrade.sql import SqlRunner

from .conftest import REPO
from .leftovers import wait_for_no_leftovers
from .test_kills import KILL_POINTS


def _backends(database: Database, application: str = MIGRATION_APPLICATION) -> list[str]:
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        return [row[0] for row in conn.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
            [application])]


def test_a_hung_statement_is_cancelled_at_its_deadline_and_named(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "001_hang.up.sql"
    path.write_text("CREATE TABLE t (id int);\nSELECT pg_sleep(60);\nCREATE TABLE never (id int);\n")
    steps: list[Step] = []
    started = time.monotonic()
    with pytest.raises(MigrationError) as failed:
        SqlRunner(database, steps.append, RunnerOptions(step_deadline_s=1.0)).run([path], "upgrade", "2.0", "up")
    assert time.monotonic() - started < 10, "the deadline bounds the wait"
    step = failed.value.step
    assert step.sql == "SELECT pg_sleep(60)" and step.sqlstate == QUERY_CANCELED
    assert "exceeded its deadline of 1 s (step_deadline_s): cancelled" in step.error
    assert [s.sql for s in steps] == ["CREATE TABLE t (id int)", "SELECT pg_sleep(60)"], "nothing after it ran"
    assert not any("pg_sleep" in q for q in _backends(database)), "the statement no longer runs"


def test_a_hung_command_is_stopped_and_the_statement_it_ran_is_named(database: Database, tmp_path: Path) -> None:
    steps: list[Step] = []
    runner = CommandRunner(database, steps.append, tmp_path / "migrations.log", "deadline-test", Events())
    command = [sys.executable, "-c", "import os, psycopg; psycopg.connect(os.environ['DATABASE_URL'])"
               ".execute('SELECT pg_sleep(60)')"]
    started = time.monotonic()
    with pytest.raises(MigrationError) as failed:
        runner.run(command, tmp_path, {}, "upgrade", "2.0", "up", deadline_s=2.0)
    assert time.monotonic() - started < 15
    error = failed.value.step.error
    assert "exceeded its deadline of 2 s" in error and "SELECT pg_sleep(60)" in error, error
    assert failed.value.step.sqlstate == QUERY_CANCELED and steps == [failed.value.step]
    for _ in range(50):
        if not any("pg_sleep" in q for q in _backends(database)):
            break
        time.sleep(0.1)
    assert not any("pg_sleep" in q for q in _backends(database)), "its backend was terminated too"


def test_deadlines_have_documented_defaults_and_plan_overrides() -> None:
    plan = load_plan(KILL_POINTS)
    assert plan.runner.step_deadline_s == DEFAULT_STEP_DEADLINE_S == 600
    assert plan.seed_deadline_s == 3600
    assert load_plan(KILL_POINTS, {"upgrade.step_deadline_s": 5}).runner.step_deadline_s == 5
    plan = load_plan(REPO / "tests" / "scenarios" / "alembic_shop", {"upgrade.step_deadline_s": 7})
    assert plan.releases["2.0"].migrations.deadline_s == 7, "commands take the [upgrade] deadline"
    assert "step_deadline_s" in (REPO / "README.md").read_text()


@pytest.mark.slow
def test_a_migration_past_its_deadline_fails_the_verdict_and_the_rollback_runs(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(KILL_POINTS), "--to", "slow_up",
                             "--out", str(tmp_path), "--set", "upgrade.step_deadline_s=1.5"],
                            cwd=REPO, capture_output=True, text=True, timeout=180)
    (run_dir,) = tmp_path.iterdir()
    assert result.returncode == 1, result.stderr
    assert "verdict: FAIL" in result.stdout and "migration failed" in result.stdout, result.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    hung = next(s for s in summary["statements"] if s["error"])
    assert hung["sql"] == "SELECT pg_sleep(60)" and "deadline" in hung["error"]
    assert [(a["name"], a["status"]) for a in summary["actions"]] == [
        ("migrate", "failed"), ("swap", "skipped"), ("revert", "ok"), ("swap_back", "skipped")]
    assert summary["rollback"]["checked"] and summary["rollback"]["safe"], "the rollback ran after the deadline"
    assert [f["kind"] for f in summary["failures"]] == ["migration_failed"]
    assert "SELECT pg_sleep(60)" in (run_dir / "summary.md").read_text()
    assert wait_for_no_leftovers(run_dir.name, timeout=2) == {}
