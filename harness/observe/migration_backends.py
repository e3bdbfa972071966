"""Statement-level view of migration tools that run their own connections (alembic, flyway, ...).

While a command migration runs, its backends (application_name = rehearse-migrate, set through PGAPPNAME)
are sampled from pg_stat_activity and pg_locks: which statement each was running (query_start identifies it)
and which locks it held. `statements_from_samples` turns the samples into one row per statement seen.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.environments.base import Database
from harness.rundir import JsonLines
from harness.upgrade.steps import MIGRATION_APPLICATION

BACKENDS_SQL = """
SELECT extract(epoch FROM statement_timestamp())::float8 AS sampled_at, a.pid, a.state,
       extract(epoch FROM a.query_start)::float8 AS query_start,
       extract(epoch FROM a.xact_start)::float8 AS xact_start,
       left(a.query, 2000) AS query,
       array(SELECT l.mode || ' ' || l.relation::regclass::text FROM pg_locks l
             WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation' AND l.relation >= 16384
             ORDER BY 1) AS locks
FROM pg_stat_activity a
WHERE a.application_name = %s AND a.pid <> pg_backend_pid()
  AND (a.leader_pid IS NULL OR a.leader_pid = a.pid)  -- parallel workers repeat their leader's statement
"""


class BackendTracer:
    """Verbs: start() begins sampling the migration's backends, stop() ends it."""

    def __init__(self, database: Database, out: JsonLines, interval_s: float = 0.02) -> None:
        self.database, self.out, self.interval_s = database, out, interval_s
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="migration-backends", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            with psycopg.connect(self.database.dsn(), autocommit=True, row_factory=dict_row,
                                 application_name="rehearse-migration-tracer") as conn:
                self._ready.set()
                while not self._stop.is_set():
                    self.out.write(*conn.execute(BACKENDS_SQL, [MIGRATION_APPLICATION]).fetchall())
                    self._stop.wait(self.interval_s)
        except psycopg.Error as exc:
            self.errors.append(str(exc).strip())
        finally:
            self._ready.set()


def statements_from_samples(samples: list[dict[str, Any]], interval_s: float = 0.02) -> list[dict[str, Any]]:
    """One row per (backend, statement) seen: sql, started (query_start), ended (last seen running, else its
    start), txn (backend + transaction start), and the locks first seen while it ran."""
    statements: dict[tuple[int, float], dict[str, Any]] = {}
    seen_in_txn: dict[tuple[int, float | None], set[str]] = {}
    for sample in sorted(samples, key=lambda s: s["sampled_at"]):
        if sample["query_start"] is None or not sample["query"]:
            continue
        key = (sample["pid"], sample["query_start"])
        row = statements.setdefault(key, {
            "pid": sample["pid"], "sql": sample["query"], "started": sample["query_start"],
            "ended": sample["query_start"], "txn": f"{sample['pid']}:{sample['xact_start']}", "locks": []})
        if sample["state"] == "active":
            row["ended"] = max(row["ended"], sample["sampled_at"])
        elif row["ended"] == row["started"]:
            row["ended"] = min(sample["sampled_at"], sample["query_start"] + interval_s)
        held = seen_in_txn.setdefault((sample["pid"], sample["xact_start"]), set())
        # a relation created by the running transaction shows as a bare oid to other sessions: skip it
        fresh = [lock for lock in sample["locks"] or [] if lock not in held and not lock.split(" ")[-1].isdigit()]
        row["locks"].extend(fresh)
        held.update(fresh)
    return sorted(statements.values(), key=lambda r: r["started"])
