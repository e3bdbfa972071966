"""Command migrations (a tiny Alembic project): per-statement blame from the migration's own backends."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from harness.observe.migration_backends import statements_from_samples
from harness.observe.statement_log import logged_statements
from harness.plan import load_plan

from .conftest import REPO
from .leftovers import processes_of


def test_samples_become_statements_with_the_locks_they_first_took() -> None:
    def sample(at: float, start: float, query: str, state: str, locks: list[str]) -> dict:
        held = [dict(zip(("mode", "relation"), lock.split(" "), strict=True), is_index=False) for lock in locks]
        return {"sampled_at": at, "pid": 7, "state": state, "query_start": start, "xact_start": 1.0,
                "query": query, "locks": held}

    def named(row: dict) -> list[str]:
        return [f"{lock['mode']} {lock['relation']}" for lock in row["locks"]]

    rows = statements_from_samples([
        sample(1.01, 1.0, "ALTER TABLE t ADD c int", "active", ["AccessExclusiveLock t"]),
        sample(1.03, 1.02, "UPDATE t SET c = 1", "active", ["AccessExclusiveLock t", "RowExclusiveLock t"]),
        sample(2.00, 1.02, "UPDATE t SET c = 1", "active", ["AccessExclusiveLock t", "RowExclusiveLock t"]),
        sample(2.02, 2.01, "CREATE INDEX i ON t (c)", "active", ["AccessExclusiveLock t", "ShareLock t",
                                                                  "AccessExclusiveLock 16999"]),
        sample(2.05, 2.01, "CREATE INDEX i ON t (c)", "idle in transaction", ["AccessExclusiveLock t"]),
    ])
    assert [r["sql"] for r in rows] == ["ALTER TABLE t ADD c int", "UPDATE t SET c = 1", "CREATE INDEX i ON t (c)"]
    assert named(rows[0]) == ["AccessExclusiveLock t"]
    assert named(rows[1]) == ["RowExclusiveLock t"] and rows[1]["ended"] == 2.0
    assert named(rows[2]) == ["ShareLock t"], "uncommitted relations (bare oids) are left out"
    assert len({r["txn"] for r in rows}) == 1


@pytest.mark.slow
def test_alembic_upgrade_gets_per_statement_blame(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "tests/scenarios/alembic_shop", "--out",
                             str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert result.returncode == 1, result.stderr
    (run_dir,) = tmp_path.iterdir()
    assert processes_of(run_dir.name) == []
    summary = json.loads((run_dir / "summary.json").read_text())
    commands = [s for s in summary["statements"] if s["origin"] == "command"]
    assert [c["phase"] for c in commands] == ["upgrade", "rollback"]
    assert "alembic upgrade v2_0" in commands[0]["sql"] and commands[0]["error"] is None
    traced = [s for s in summary["statements"] if s["origin"] == "traced" and s["phase"] == "upgrade"]
    backfill = next(s for s in traced if s["sql"] == "UPDATE orders SET currency = 'EUR'")
    add_column = next(s for s in traced if s["sql"].startswith("ALTER TABLE orders ADD COLUMN currency"))
    # one transaction: the ADD COLUMN took ACCESS EXCLUSIVE on orders and held it to COMMIT; the requests that
    # queued during the backfill wait for that lock, so they are the ADD COLUMN's
    assert "AccessExclusiveLock orders" in add_column["locks"]
    assert {"mode": "AccessExclusiveLock", "relation": "orders", "is_index": False} in add_column["lock_records"]
    assert add_column["blocked_backends"] >= 1 and add_column["blamed_waits"] >= 1
    assert add_column["blocked_requests"] >= 1 and add_column["held_ms"] > backfill["duration_ms"]
    worst_traced = max(traced, key=lambda s: (s["blocked_requests"], s["max_wait_ms"]))
    assert worst_traced["sql"] == add_column["sql"], "the statement holding the lock the requests waited on is named"
    assert add_column["started"] < backfill["started"], "quick statements come back from the server's log"
    assert backfill["duration_ms"] > 50
    _lint_falls_back_to_what_the_rehearsal_traced(run_dir)


def _lint_falls_back_to_what_the_rehearsal_traced(run_dir: Path) -> None:
    """A tool that cannot print its SQL offline (here: alembic behind a shell) is linted from the statements the
    rehearsal traced, and says so."""
    from harness.scenario_lint import lint_scenario

    plan = load_plan(REPO / "tests" / "scenarios" / "alembic_shop")
    hidden = {version: replace(release, migrations=replace(release.migrations, up=["sh", "-c", "true"]))
              for version, release in plan.releases.items()}
    sources = lint_scenario(replace(plan, releases=hidden), run_dir)
    up = next(s for s in sources if s.release == "2.0" and s.direction == "up")
    assert up.how == "traced" and str(run_dir) in up.where
    assert "UPDATE orders SET currency = 'EUR'" in up.statements
    assert not [s for s in up.statements if "alembic_version" in s or "pg_catalog" in s], "no tool chatter"
    assert {f.rule for f in up.findings} >= {"backfill-in-ddl-transaction", "non-concurrent-index"}


def test_statements_come_back_from_the_server_log(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text(
        "1795776776.747 [8717] rehearse-migrate: LOG:  duration: 0.052 ms  statement: BEGIN\n"
        "1795776776.900 [8717] rehearse-migrate: LOG:  duration: 150.000 ms  execute <unnamed>: UPDATE orders\n"
        "\tSET currency = 'EUR'\n"
        "1795776776.901 [9999] shop-1.0: LOG:  duration: 1.000 ms  statement: SELECT 1\n"
        "1795776776.902 [8717] rehearse-migrate: ERROR:  column \"x\" does not exist\n")
    rows = logged_statements(log, "rehearse-migrate")
    assert [r["sql"] for r in rows] == ["BEGIN", "UPDATE orders SET currency = 'EUR'"]
    assert rows[1]["pid"] == 8717 and abs(rows[1]["started"] - 1795776776.750) < 1e-6
