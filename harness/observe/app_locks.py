"""The order in which the service's own transactions take their table locks, sampled from pg_locks.

Every interval, the granted table locks of each backend of the service that is inside a transaction; a lock
is streamed the first time its transaction is seen holding it, so a transaction that locks `users` and, a
sample later, `notes` shows the order users -> notes (result.lock_order compares it with the migration's).
Locks taken within one interval show as taken together: no order is claimed between them.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.core.database import Database
from harness.core.poller import Poller, Report
from harness.core.postgres import FIRST_USER_OID
from harness.core.streams import JsonLines
from harness.events import Events
from harness.observe.base import ObserverContext

STREAM = "app_locks.jsonl"
APPLICATION_NAME = "rehearse-app-lock-sampler"
HELD_SQL = f"""
SELECT extract(epoch FROM statement_timestamp())::float8 AS sampled_at, a.pid, a.application_name,
       extract(epoch FROM a.xact_start)::float8 AS xact_start,
       array_agg(l.relation::regclass::text || ' ' || l.mode ORDER BY l.relation, l.mode) AS locks
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
JOIN pg_class c ON c.oid = l.relation
WHERE l.granted AND l.locktype = 'relation' AND l.relation >= {FIRST_USER_OID} AND c.relkind IN ('r', 'p', 'm')
  AND a.xact_start IS NOT NULL AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
  AND a.application_name NOT LIKE 'rehearse-%%'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
GROUP BY a.pid, a.application_name, a.xact_start
"""


class AppLockSampler(Poller):
    """Verbs: start() begins sampling (True once connected), stop() ends it."""

    name = "app-lock-sampler"

    def __init__(self, database: Database, interval_s: float, out: JsonLines, report: Report) -> None:
        super().__init__(interval_s, report)
        self.database, self.out = database, out
        self.conn: psycopg.Connection[dict[str, Any]] | None = None
        self.seen: dict[tuple[int, float], set[str]] = {}

    def connect(self) -> None:
        self.conn = psycopg.connect(self.database.dsn(), autocommit=True, row_factory=dict_row,
                                    application_name=APPLICATION_NAME)
        self.conn.execute("SET statement_timeout = '5s'")

    def poll(self) -> None:
        assert self.conn is not None
        rows = self.conn.execute(HELD_SQL).fetchall()
        current: dict[tuple[int, float], set[str]] = {}
        fresh = []
        for row in rows:
            key = (row["pid"], row["xact_start"])
            held = set(row["locks"] or [])
            current[key] = held | self.seen.get(key, set())
            new = sorted(held - self.seen.get(key, set()))
            if new:
                fresh.append({"sampled_at": row["sampled_at"], "pid": row["pid"],
                              "application": row["application_name"], "xact_start": row["xact_start"],
                              "locks": new})
        self.seen = current  # transactions that ended are forgotten
        self.out.write(*fresh)

    def disconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()


class AppLockObserver:
    """Observer: samples the table locks the service's transactions take, for the whole run."""

    name = "app-locks"

    def __init__(self, context: ObserverContext) -> None:
        self.out = JsonLines(context.run.stream(STREAM))
        self.sampler = AppLockSampler(context.database, context.plan.lock_sample_interval_ms / 1000, self.out,
                                      context.reporter(self.name))

    def attach(self, events: Events) -> None:
        self.sampler.start()

    def close(self) -> None:
        self.sampler.stop()
        self.out.close()
