"""Lock sampler: every interval, who waits for which lock, who blocks them, and the root of each chain.

Runs on its own asyncpg connection in a background thread, so it keeps sampling while the orchestrator blocks
on a migration. Queued backends report the *waiting* DDL among their blockers, so each chain is followed to a
blocker that is not itself waiting: the root blocker.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.poller import Poller, PollerGone, Report
from harness.core.postgres import LOCK_SAMPLER_APPLICATION
from harness.core.streams import JsonLines
from harness.events import Events
from harness.observe.base import ObserverContext

APPLICATION_NAME = LOCK_SAMPLER_APPLICATION
STREAM = "locks.jsonl"

WAITERS_SQL = """
SELECT extract(epoch FROM statement_timestamp())::float8 AS sampled_at,
       l.pid, a.state, a.wait_event_type, a.wait_event, l.mode, l.locktype,
       CASE WHEN l.relation IS NOT NULL THEN l.relation::regclass::text END AS relation,
       greatest(0, extract(epoch FROM statement_timestamp() - l.waitstart))::float8 AS waiting_s,
       pg_blocking_pids(l.pid) AS blocked_by,
       a.application_name, left(a.query, 2000) AS query
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND l.pid <> pg_backend_pid()
  AND (l.database IS NULL OR l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
"""

BLOCKERS_SQL = """
SELECT pid, state, application_name, left(query, 2000) AS query,
       extract(epoch FROM xact_start)::float8 AS xact_start
FROM pg_stat_activity WHERE pid = ANY($1::int[])
"""


def root_blockers(waiters: dict[int, list[int]]) -> dict[int, tuple[int | None, int]]:
    """For each waiting pid: (root blocker, chain depth). The root is the first blocker reached that waits
    for nothing; in a cycle (deadlock about to be broken) the smallest pid of the cycle stands in."""
    roots: dict[int, tuple[int | None, int]] = {}
    for pid in waiters:
        seen = [pid]
        frontier = list(waiters[pid])
        depth, root = 1, None
        while frontier and root is None:
            next_frontier: list[int] = []
            for blocker in frontier:
                if blocker not in waiters:
                    root = blocker
                    break
                if blocker not in seen:
                    seen.append(blocker)
                    next_frontier.extend(waiters[blocker])
            else:
                depth += 1
                frontier = next_frontier
        if root is None and len(seen) > 1:
            root, depth = min(seen), len(seen)
        roots[pid] = (root, depth)
    return roots


def chain_rows(rows: list[dict[str, Any]], blockers: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Annotate sampled waiter rows with root blocker, depth and the root's query and application. A root seen
    idle (outside any transaction) by the second query let go of its locks in between: the waits behind it are
    being granted, and are left out of the sample (but for advisory locks, which a session may hold idle)."""
    waiters = {row["pid"]: list(row["blocked_by"] or []) for row in rows}
    roots = root_blockers(waiters)
    by_pid = {row["pid"]: row for row in rows}
    granted: set[int] = set()
    for row in rows:
        root, depth = roots[row["pid"]]
        if root is not None and root not in blockers and root not in by_pid:
            # The root ended between the two queries of this sample: a blocker still there is the real root.
            root = next((b for b in row["blocked_by"] or [] if b in blockers and b not in waiters), root)
        info = (blockers.get(root) or by_pid.get(root) or {}) if root is not None else {}
        row["blocked_by"] = list(row["blocked_by"] or [])
        row["root_blocker"] = root
        row["chain_depth"] = depth
        row["root_application"] = info.get("application_name")
        row["root_query"] = info.get("query")
        row["root_state"] = info.get("state")
        if info.get("state") == "idle" and row.get("locktype") != "advisory":
            granted.add(row["pid"])
    return [row for row in rows if row["pid"] not in granted]


class LockSampler(Poller):
    """Verbs: start() begins sampling in the background (True once connected), stop() ends it."""

    name = "lock-sampler"

    def __init__(self, database: Database, interval_s: float, out: JsonLines, report: Report | None = None) -> None:
        self.errors: list[str] = []

        def sink(message: str) -> None:
            self.errors.append(message)
            if report is not None:
                report(message)

        super().__init__(interval_s, sink)
        self.database, self.out = database, out
        self.loop: asyncio.AbstractEventLoop | None = None
        self.conn: asyncpg.Connection | None = None

    @property
    def samples(self) -> int:
        return self.polls

    def connect(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(self.database.dsn(), server_settings={
            "application_name": APPLICATION_NAME, "lock_timeout": "0", "statement_timeout": "5s"}))

    def poll(self) -> None:
        assert self.loop is not None and self.conn is not None
        if self.conn.is_closed():
            raise PollerGone("its connection was closed")
        self.out.write(*self.loop.run_until_complete(sample(self.conn)))

    def disconnect(self) -> None:
        if self.loop is None:
            return
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.wait_for(self.conn.close(), 2))
        self.loop.close()


async def sample(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """One sample: every waiting lock request, annotated with its chain's root blocker."""
    # A request no backend blocks any more is being granted (its blocker let go between the two views: a
    # prepared transaction would show as pid 0): it waits for nobody, and those queued behind it wait for it.
    rows = [dict(r) for r in await conn.fetch(WAITERS_SQL) if r["blocked_by"]]
    if not rows:
        return []
    waiting = {row["pid"] for row in rows}
    blocker_pids = sorted({b for row in rows for b in (row["blocked_by"] or [])} - waiting)
    blockers = {r["pid"]: dict(r) for r in await conn.fetch(BLOCKERS_SQL, blocker_pids)} if blocker_pids else {}
    return chain_rows(rows, blockers)


class LockObserver:
    """Observer: samples every lock wait (who waits, who blocks, the chain's root) for the whole run."""

    name = "locks"

    def __init__(self, context: ObserverContext) -> None:
        self.out = JsonLines(context.run.stream(STREAM))
        self.sampler = LockSampler(context.database, context.plan.lock_sample_interval_ms / 1000, self.out,
                                   context.reporter(self.name))

    def attach(self, events: Events) -> None:
        if not self.sampler.start():
            self.out.close()
            raise EnvironmentFailure(f"the lock sampler could not connect to the database: "
                                     f"{self.sampler.errors[-1] if self.sampler.errors else 'no answer'}")

    def close(self) -> None:
        self.sampler.stop()
        self.out.close()
