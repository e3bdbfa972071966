"""Lock sampler: every interval, who waits for which lock, who blocks them, and the root of each chain.

Runs on its own asyncpg connection in a background thread, so it keeps sampling while the orchestrator blocks
on a migration. Queued backends report the *waiting* DDL among their blockers, so each chain is followed to a
blocker that is not itself waiting: the root blocker.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import asyncpg

from harness.environments.base import Database
from harness.rundir import JsonLines

APPLICATION_NAME = "rehearse-lock-sampler"

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
    """Annotate sampled waiter rows with root blocker, depth and the root's query and application."""
    waiters = {row["pid"]: list(row["blocked_by"] or []) for row in rows}
    roots = root_blockers(waiters)
    by_pid = {row["pid"]: row for row in rows}
    for row in rows:
        root, depth = roots[row["pid"]]
        info = blockers.get(root) or by_pid.get(root) or {}
        row["blocked_by"] = list(row["blocked_by"] or [])
        row["root_blocker"] = root
        row["chain_depth"] = depth
        row["root_application"] = info.get("application_name")
        row["root_query"] = info.get("query")
        row["root_state"] = info.get("state")
    return rows


class LockSampler:
    """Verbs: start() begins sampling in the background, stop() ends it and closes the stream."""

    def __init__(self, database: Database, interval_s: float, out: JsonLines) -> None:
        self.database, self.interval_s, self.out = database, interval_s, out
        self.samples = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(15)
        if self.errors:
            raise RuntimeError(f"lock sampler could not connect: {self.errors[-1]}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.out.close()

    def _run(self) -> None:
        asyncio.run(self._sample_forever())

    async def _sample_forever(self) -> None:
        try:
            conn = await asyncpg.connect(self.database.dsn(), server_settings={
                "application_name": APPLICATION_NAME, "lock_timeout": "0", "statement_timeout": "5s"})
        except (OSError, asyncpg.PostgresError) as exc:
            self.errors.append(str(exc))
            self._ready.set()
            return
        self._ready.set()
        loop = asyncio.get_running_loop()
        try:
            while not self._stop.is_set():
                tick = loop.time()
                try:
                    self.out.write(*await sample(conn))
                    self.samples += 1
                except Exception as exc:  # noqa: BLE001 - a sampler must outlive any one bad sample
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    if conn.is_closed():
                        return
                await asyncio.sleep(max(0.0, self.interval_s - (loop.time() - tick)))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)


async def sample(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """One sample: every waiting lock request, annotated with its chain's root blocker."""
    rows = [dict(r) for r in await conn.fetch(WAITERS_SQL)]
    if not rows:
        return []
    waiting = {row["pid"] for row in rows}
    blocker_pids = sorted({b for row in rows for b in (row["blocked_by"] or [])} - waiting)
    blockers = {r["pid"]: dict(r) for r in await conn.fetch(BLOCKERS_SQL, blocker_pids)} if blocker_pids else {}
    return chain_rows(rows, blockers)

