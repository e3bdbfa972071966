"""The SQL migration runner times each statement and captures SQLSTATE on a real server."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from harness.core.database import Database
from harness.core.errors import MigrationError as MigrationFailed
from harness.core.errors import SqlInputError
from harness.plan import RunnerOptions
from harness.records.run import Lock, Step
from harness.upgrade.sql import SqlRunner, migration_files


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


def _seeded(database: Database, rows: int = 1000) -> None:
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL)")
        conn.execute(f"INSERT INTO orders SELECT g, g FROM generate_series(1, {rows}) g")


def test_each_statement_records_its_locks_and_rewrites(database: Database, tmp_path: Path) -> None:
    _seeded(database, rows=100_000)
    steps: list[Step] = []
    path = _write(tmp_path, "001_x.up.sql", """
        CREATE INDEX orders_total_idx ON orders (total);
        ALTER TABLE orders ALTER COLUMN total TYPE bigint;
        BEGIN;
        ALTER TABLE orders ADD COLUMN note text;
        UPDATE orders SET note = 'x';
        COMMIT;
        CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);
    """)
    SqlRunner(database, steps.append).run([path], "upgrade", "2.0", "up")
    by_sql = {s.sql: s for s in steps}
    create_index = by_sql["CREATE INDEX orders_total_idx ON orders (total)"]
    assert Lock("ShareLock", "orders") in create_index.locks and create_index.rewrites == []
    type_change = by_sql["ALTER TABLE orders ALTER COLUMN total TYPE bigint"]
    assert Lock("AccessExclusiveLock", "orders") in type_change.locks
    assert "orders" in type_change.rewrites, "a type change rewrites the table"
    add_column = by_sql["ALTER TABLE orders ADD COLUMN note text"]
    backfill = by_sql["UPDATE orders SET note = 'x'"]
    assert add_column.locks == [Lock("AccessExclusiveLock", "orders")] and add_column.rewrites == []
    assert Lock("RowExclusiveLock", "orders") in backfill.locks
    assert Lock("AccessExclusiveLock", "orders") not in backfill.locks, "held since the ALTER, not taken again"
    assert add_column.txn == backfill.txn == by_sql["COMMIT"].txn != create_index.txn
    concurrent = by_sql["CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note)"]
    assert Lock("ShareUpdateExclusiveLock", "orders") in concurrent.locks
    assert [s.statement_index for s in steps] == list(range(7))


def test_lock_timeout_retries_with_backoff_until_the_lock_frees(database: Database, tmp_path: Path) -> None:
    _seeded(database)
    holder = psycopg.connect(database.dsn())
    holder.execute("SELECT count(*) FROM orders")  # AccessShare held: ALTER must wait

    def release_later() -> None:
        time.sleep(0.5)
        holder.rollback()

    import threading
    releaser = threading.Thread(target=release_later)
    releaser.start()
    steps: list[Step] = []
    options = RunnerOptions(lock_timeout_ms=100, lock_retries=5, retry_backoff_ms=100)
    path = _write(tmp_path, "001_x.up.sql", "ALTER TABLE orders ADD COLUMN note text;")
    try:
        SqlRunner(database, steps.append, options).run([path], "upgrade", "2.0", "up")
    finally:
        releaser.join()
        holder.close()
    assert [s.sqlstate for s in steps[:-1]] == ["55P03"] * (len(steps) - 1) and len(steps) >= 2
    assert steps[-1].error is None and steps[-1].attempt == len(steps)
    gaps = [b.started - a.ended for a, b in zip(steps, steps[1:], strict=False)]
    assert gaps[0] >= 0.1 and (len(gaps) < 2 or gaps[1] >= 0.2), "backoff doubles"


def test_retries_give_up_after_the_limit(database: Database, tmp_path: Path) -> None:
    _seeded(database)
    holder = psycopg.connect(database.dsn())
    holder.execute("SELECT count(*) FROM orders")
    steps: list[Step] = []
    options = RunnerOptions(lock_timeout_ms=50, lock_retries=2, retry_backoff_ms=10)
    path = _write(tmp_path, "001_x.up.sql", "ALTER TABLE orders ADD COLUMN note text;")
    try:
        with pytest.raises(MigrationFailed):
            SqlRunner(database, steps.append, options).run([path], "upgrade", "2.0", "up")
    finally:
        holder.close()
    assert [s.attempt for s in steps] == [1, 2, 3] and {s.sqlstate for s in steps} == {"55P03"}


@pytest.mark.parametrize(("mode", "transactions"), [("statement", 3), ("file", 2)])
def test_transaction_modes(database: Database, tmp_path: Path, mode: str, transactions: int) -> None:
    _seeded(database)
    steps: list[Step] = []
    path = _write(tmp_path, "001_x.up.sql", """
        BEGIN;
        ALTER TABLE orders ADD COLUMN note text;
        UPDATE orders SET note = 'x';
        COMMIT;
        CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);
    """)
    SqlRunner(database, steps.append, RunnerOptions(transaction=mode)).run([path], "upgrade", "2.0", "up")
    assert "BEGIN" not in {s.sql for s in steps}, "the file's own transaction control is replaced"
    assert len({s.txn for s in steps}) == transactions


def test_failed_concurrent_index_leaves_an_invalid_index_that_is_reported(database: Database,
                                                                          tmp_path: Path) -> None:
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE emails (id int PRIMARY KEY, address text)")
        conn.execute("INSERT INTO emails VALUES (1, 'a'), (2, 'a')")
    path = _write(tmp_path, "001_x.up.sql", "CREATE UNIQUE INDEX CONCURRENTLY emails_address_key ON emails (address);")
    runner = SqlRunner(database, lambda step: None)
    with pytest.raises(MigrationFailed) as failed:
        runner.run([path], "upgrade", "2.0", "up")
    assert failed.value.step.sqlstate == "23505"
    assert runner.invalid_indexes() == ["emails_address_key"]
