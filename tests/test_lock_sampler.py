"""The lock sampler against a provoked lock queue on a real server:
idle-in-transaction blocker -> waiting ALTER -> queued SELECTs, every chain rooted at the blocker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg

from harness.core.database import Database
from harness.core.streams import JsonLines, read_json_lines
from harness.observe.locks import LockSampler, root_blockers


def _in_background(database: Database, sql: str, name: str) -> tuple[threading.Thread, psycopg.Connection]:
    conn = psycopg.connect(database.dsn(), autocommit=True, application_name=name)
    thread = threading.Thread(target=conn.execute, args=(sql,), daemon=True)
    thread.start()
    return thread, conn


def test_lock_queue_is_sampled_with_the_idle_transaction_as_root(database: Database, tmp_path: Path) -> None:
    with psycopg.connect(database.dsn(), autocommit=True) as setup:
        setup.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int)")
        setup.execute("INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 100) g")
    stream = tmp_path / "locks.jsonl"
    sampler = LockSampler(database, 0.02, JsonLines(stream))
    sampler.start()
    blocker = psycopg.connect(database.dsn(), application_name="forgotten-tx")
    blocker.execute("SELECT balance FROM accounts WHERE id = 1")  # now idle in transaction
    background = []
    try:
        background.append(_in_background(database, "ALTER TABLE accounts ADD COLUMN note text", "migration"))
        _wait_for_waiters(database, 1)
        for i in range(3):
            background.append(_in_background(database, "SELECT count(*) FROM accounts", f"reader-{i}"))
        _wait_for_waiters(database, 4)
        time.sleep(0.2)
    finally:
        blocker.rollback()
        for thread, conn in background:
            thread.join(10)
            conn.close()
        blocker.close()
        sampler.stop()

    assert not sampler.errors
    samples: dict[float, dict[str, dict]] = {}
    for row in read_json_lines(stream):
        samples.setdefault(row["sampled_at"], {})[row["application_name"]] = row
    full = [s for s in samples.values() if set(s) == {"migration", "reader-0", "reader-1", "reader-2"}]
    assert full, "no sample caught the whole queue"
    last = full[-1]
    alter = last["migration"]
    root = alter["root_blocker"]
    assert alter["mode"] == "AccessExclusiveLock" and alter["relation"] == "accounts"
    assert alter["blocked_by"] == [root] and alter["chain_depth"] == 1
    assert alter["root_state"] == "idle in transaction" and alter["root_application"] == "forgotten-tx"
    for i in range(3):
        reader = last[f"reader-{i}"]
        assert reader["mode"] == "AccessShareLock"
        assert reader["blocked_by"] == [alter["pid"]], "a queued reader reports the waiting DDL as its blocker"
        assert reader["root_blocker"] == root and reader["chain_depth"] == 2
        assert reader["root_query"] == "SELECT balance FROM accounts WHERE id = 1"
        assert 0.0 < reader["waiting_s"] < 10


def _wait_for_waiters(database: Database, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(database.dsn(), autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] < count:
            assert time.monotonic() < deadline, f"fewer than {count} waiters after {timeout}s"
            time.sleep(0.02)


def test_root_blockers_follow_chains_and_break_cycles() -> None:
    waiters = {10: [20], 20: [30], 40: [10, 99], 50: [60], 60: [50]}
    roots = root_blockers(waiters)
    assert roots[10] == (30, 2)
    assert roots[20] == (30, 1)
    assert roots[40] == (99, 1)
    assert roots[50] == (50, 2) and roots[60][0] == 50
