"""The SQL migration runner times each statement and captures SQLSTATE on a real server."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from harness.environments.base import Database
from harness.upgrade.sql import SqlInputError, SqlRunner, migration_files
from harness.upgrade.steps import MigrationFailed, Step


def _write(directory: Path, name: str, sql: str) -> Path:
    path = directory / name
    path.write_text(sql)
    return path


def test_statements_are_timed_one_by_one(database: Database, tmp_path: Path) -> None:
    steps: list[Step] = []
    path = _write(tmp_path, "001_x.up.sql", """
        CREATE TABLE items (id int PRIMARY KEY);
        SELECT pg_sleep(0.25);
        DO $$ BEGIN PERFORM 1; END $$;
        INSERT INTO items SELECT generate_series(1, 10);
    """)
    next_seq = SqlRunner(database, steps.append).run([path], "upgrade", "2.0", "up", seq=4)
    assert next_seq == 8
    assert [s.seq for s in steps] == [5, 6, 7, 8]
    assert steps[1].sql == "SELECT pg_sleep(0.25)"
    assert 250 <= steps[1].duration_ms < 2000
    assert all(s.error is None and s.sqlstate is None and s.pid for s in steps)
    assert steps[0].ended <= steps[1].started


def test_failure_records_sqlstate_and_rolls_back_the_transaction(database: Database, tmp_path: Path) -> None:
    steps: list[Step] = []
    path = _write(tmp_path, "001_x.up.sql",
                  "BEGIN; CREATE TABLE t1 (id int); SELECT missing_column FROM t1; COMMIT;")
    with pytest.raises(MigrationFailed) as failed:
        SqlRunner(database, steps.append).run([path], "upgrade", "2.0", "up")
    assert failed.value.step.sqlstate == "42703"
    assert steps[-1].sqlstate == "42703" and "missing_column" in steps[-1].error
    assert len(steps) == 3, "statements after the failure do not run"
    with psycopg.connect(database.dsn()) as conn:
        assert conn.execute("SELECT to_regclass('t1')").fetchone()[0] is None, "the file's transaction rolled back"


def test_lock_timeout_is_captured_as_55P03(database: Database, tmp_path: Path) -> None:
    with psycopg.connect(database.dsn(), autocommit=True) as setup:
        setup.execute("CREATE TABLE busy (id int)")
    holder = psycopg.connect(database.dsn())
    holder.execute("LOCK TABLE busy IN ACCESS SHARE MODE")
    steps: list[Step] = []
    path = _write(tmp_path, "001_x.up.sql", "SET lock_timeout = '100ms'; ALTER TABLE busy ADD COLUMN x int;")
    try:
        with pytest.raises(MigrationFailed):
            SqlRunner(database, steps.append).run([path], "upgrade", "2.0", "up")
    finally:
        holder.close()
    assert steps[-1].sqlstate == "55P03"
    assert steps[-1].duration_ms >= 100


def test_files_run_in_name_order_and_downs_in_reverse(tmp_path: Path) -> None:
    for name in ("002_b.up.sql", "001_a.up.sql", "001_a.down.sql", "002_b.down.sql"):
        _write(tmp_path, name, "SELECT 1;")
    assert [p.name for p in migration_files(tmp_path, "up")] == ["001_a.up.sql", "002_b.up.sql"]
    assert [p.name for p in migration_files(tmp_path, "down")] == ["002_b.down.sql", "001_a.down.sql"]


def test_unparsable_file_is_bad_input(database: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, "001_x.up.sql", "ALTER TABLE t ADD COLUMN;")
    with pytest.raises(SqlInputError, match="001_x.up.sql: cannot parse SQL"):
        SqlRunner(database, lambda step: None).run([path], "upgrade", "2.0", "up")
