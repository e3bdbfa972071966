"""Cleanup steps against a real PostgreSQL: each step runs, then its check, and the result says both."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

from harness.core.database import Database
from harness.package.cleanup import Context, run_step
from harness.package.manifest import Call, CleanupStep


def _context(database: Database, tmp_path: Path) -> Context:
    dsn = database.dsn()
    return Context(dsn=dsn, password=database.password, cwd=tmp_path, env={"DATABASE_URL": dsn},
                   values={"python": sys.executable}, log=tmp_path / "cleanup.log")


def test_a_sql_step_and_its_check(database: Database, tmp_path: Path) -> None:
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE feature_flags (name text PRIMARY KEY, enabled boolean NOT NULL)")
        conn.execute("INSERT INTO feature_flags VALUES ('f', false)")
    step = CleanupStep("f on", "feature_flag", Call(sql="UPDATE feature_flags SET enabled = true WHERE name = 'f'"),
                       Call(sql="SELECT enabled FROM feature_flags WHERE name = 'f'"), flag="f")
    result = run_step(step, _context(database, tmp_path))
    assert (result.status, result.check_passed, result.observed, result.message) == ("ok", True, "True", None)


def test_a_check_that_does_not_pass_fails_the_step(database: Database, tmp_path: Path) -> None:
    step = CleanupStep("webhook gone", "webhook", Call(sql="SELECT 1"), Call(sql="SELECT 0"))
    result = run_step(step, _context(database, tmp_path))
    assert result.status == "failed" and not result.check_passed
    assert result.message == "the check did not pass (it saw 0)"


def test_a_failing_step_is_reported_and_its_check_still_runs(database: Database, tmp_path: Path) -> None:
    step = CleanupStep("revoke", "credential", Call(sql="DROP ROLE no_such_role_here"),
                       Call(sql="SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'no_such_role_here')"))
    result = run_step(step, _context(database, tmp_path))
    assert result.status == "failed" and result.check_passed, "the state is right, the step itself failed"
    assert result.message is not None and result.message.startswith("42704")


def test_command_steps_get_the_database_and_their_exit_code_is_the_check(database: Database, tmp_path: Path) -> None:
    script = "import os, psycopg; psycopg.connect(os.environ['DATABASE_URL']).close(); print('done')"
    step = CleanupStep("by command", "other", Call(command=("{python}", "-c", script)),
                       Call(command=("{python}", "-c", "raise SystemExit(3)")), timeout_s=30)
    result = run_step(step, _context(database, tmp_path))
    assert result.status == "failed" and result.observed == "exit code 3"
    log = (tmp_path / "cleanup.log").read_text()
    assert "done" in log and (not database.password or database.password not in log)
    slow = CleanupStep("slow", "other", Call(command=("{python}", "-c", "import time; time.sleep(30)")),
                       Call(sql="SELECT true"), timeout_s=0.5)
    assert run_step(slow, _context(database, tmp_path)).message == "timed out after 0.5 s"
