"""Statement-level view of migration tools that run their own connections (alembic, flyway, ...).

While a command migration runs, its backends (application_name = rehearse-migrate, set through PGAPPNAME)
are sampled from pg_stat_activity and pg_locks: which statement each was running (query_start identifies it)
and which locks it held. `statements_from_samples` turns the samples into one row per statement seen.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.core.database import Database
from harness.core.poller import Poller, Report
from harness.core.postgres import MIGRATION_APPLICATION, MIGRATION_TRACER_APPLICATION
from harness.core.streams import JsonLines
from harness.events import Events
from harness.observe.base import ObserverContext

STREAM = "migration_backends.jsonl"
REWRITES_STREAM = "command_rewrites.jsonl"
# Relations and their files before and after a command: what it rewrote (a new relfilenode), and the table of
# each index. Another session cannot see a rewrite before it commits, so this is read around the whole command.
RELATIONS_SQL = """
SELECT c.oid, c.oid::regclass::text AS name, c.relfilenode, c.relkind,
       CASE WHEN c.relkind IN ('i', 'I') THEN i.indrelid::regclass::text END AS table_name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_index i ON i.indexrelid = c.oid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%%'
  AND c.relkind IN ('r', 'i', 'm', 'p', 't', 'I')
"""
BACKENDS_SQL = """
SELECT extract(epoch FROM statement_timestamp())::float8 AS sampled_at, a.pid, a.state,
       extract(epoch FROM a.query_start)::float8 AS query_start,
       extract(epoch FROM a.xact_start)::float8 AS xact_start,
       left(a.query, 2000) AS query,
       array(SELECT json_build_object('mode', l.mode, 'relation', l.relation::regclass::text,
                                      'is_index', c.relkind IN ('i', 'I'))
             FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
             WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation' AND l.relation >= 16384
             ORDER BY l.relation, l.mode) AS locks
FROM pg_stat_activity a
WHERE a.application_name = %s AND a.pid <> pg_backend_pid()
  AND (a.leader_pid IS NULL OR a.leader_pid = a.pid)  -- parallel workers repeat their leader's statement
"""


class BackendTracer(Poller):
    """Verbs: start() begins sampling the migration's backends, stop() ends it."""

    name = "migration-backends"

    def __init__(self, database: Database, out: JsonLines, report: Report, interval_s: float = 0.02) -> None:
        super().__init__(interval_s, report)
        self.database, self.out = database, out
        self.conn: psycopg.Connection[dict[str, Any]] | None = None

    def connect(self) -> None:
        self.conn = psycopg.connect(self.database.dsn(), autocommit=True, row_factory=dict_row,
                                    application_name=MIGRATION_TRACER_APPLICATION)

    def poll(self) -> None:
        assert self.conn is not None
        self.out.write(*self.conn.execute(BACKENDS_SQL, [MIGRATION_APPLICATION]).fetchall())

    def disconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()


class MigrationBackendsObserver:
    """Observer: while a migration command runs, samples its backends (statement-level blame for tools)."""

    name = "migration-backends"

    def __init__(self, context: ObserverContext) -> None:
        self.context = context
        self.out = JsonLines(context.run.stream(STREAM))
        self.rewrites = JsonLines(context.run.stream(REWRITES_STREAM))
        self.tracer: BackendTracer | None = None
        self.before: dict[int, dict[str, Any]] | None = None

    def attach(self, events: Events) -> None:
        events.migration_started.add_listener(self._started)
        events.migration_ended.add_listener(self._ended)

    def _started(self, command: list[str] | None, **_: Any) -> None:
        if command is None:  # SQL files: the SQL runner traces each statement itself
            return
        self.before = self._relations()
        self.started = time.time()
        self.tracer = BackendTracer(self.context.database, self.out, self.context.reporter(self.name))
        self.tracer.start(ready_timeout_s=10)

    def _ended(self, phase: str | None = None, version: str | None = None, direction: str | None = None,
               source: str | None = None, **_: Any) -> None:
        if self.tracer is not None:
            self.tracer.stop(5)
            self.tracer = None
        before, self.before = self.before, None
        after = self._relations() if before is not None else None
        if before is not None and after is not None:
            rewritten = [{"relation": row["name"], "is_index": row["relkind"] in ("i", "I"),
                          "table": row["table_name"]}
                         for oid, row in before.items()
                         if oid in after and row["relfilenode"] and after[oid]["relfilenode"] not in
                         (row["relfilenode"], 0)]
            self.rewrites.write({"phase": phase, "version": version, "direction": direction, "source": source,
                                 "started": self.started, "ended": time.time(), "rewrites": rewritten})

    def _relations(self) -> dict[int, dict[str, Any]] | None:
        try:
            with psycopg.connect(self.context.database.dsn(), autocommit=True, row_factory=dict_row,
                                 application_name=MIGRATION_TRACER_APPLICATION) as conn:
                return {row["oid"]: row for row in conn.execute(RELATIONS_SQL)}
        except psycopg.Error as exc:
            self.context.report_error(self.name, f"could not read the catalog around a command: {exc}")
            return None

    def close(self) -> None:
        self._ended()
        self.out.close()
        self.rewrites.close()


def statements_from_samples(samples: list[dict[str, Any]], interval_s: float = 0.02) -> list[dict[str, Any]]:
    """One row per (backend, statement) seen: sql, started (query_start), ended (last seen running, else its
    start), txn (backend + transaction start), and the locks first seen while it ran."""
    statements: dict[tuple[int, float], dict[str, Any]] = {}
    seen_in_txn: dict[tuple[int, float | None], set[tuple[str, str, bool]]] = {}
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
        locks = [_lock_key(lock) for lock in sample["locks"] or []]
        fresh = [lock for lock in locks if lock not in held and not lock[1].isdigit()]
        row["locks"].extend({"mode": m, "relation": r, "is_index": i} for m, r, i in fresh)
        held.update(fresh)
    return sorted(statements.values(), key=lambda r: r["started"])


def _lock_key(lock: dict[str, Any]) -> tuple[str, str, bool]:
    return str(lock["mode"]), str(lock["relation"]), bool(lock.get("is_index"))
