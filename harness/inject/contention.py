"""Contention injectors: an old transaction, an idle-in-transaction session or a long analytic query, started
when a phase begins, to rehearse the lock-queue trap (a DDL waits behind one old transaction, and every
request queues behind the DDL)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg import sql

from harness.environments.base import Database
from harness.inject.spec import Contention

APPLICATION_NAME = "rehearse-contention"


class Injector:
    """Verbs: start() opens the session and waits until it holds its lock; stop() ends it (rolls back)."""

    def __init__(self, database: Database, contention: Contention) -> None:
        self.database, self.contention = database, contention
        self.started: float | None = None
        self.ended: float | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._holding = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"contention-{contention.kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._holding.wait(10)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.contention.seconds + 10)

    def record(self) -> dict[str, Any]:
        c = self.contention
        return {"kind": c.kind, "table": c.table, "phase": c.phase, "seconds": c.seconds, "started": self.started,
                "ended": self.ended, "error": self.error}

    def _run(self) -> None:
        c = self.contention
        table = sql.Identifier(*c.table.split("."))
        try:
            with psycopg.connect(self.database.dsn(), application_name=APPLICATION_NAME) as conn:
                self.started = time.time()
                if c.kind == "long_query":
                    self._holding.set()  # the query below takes its lock at once
                    conn.execute(sql.SQL("SELECT count(*), pg_sleep(%s) FROM (SELECT 1 FROM {} LIMIT 1) t")
                                 .format(table), [c.seconds])
                else:
                    conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(table))  # opens the transaction
                    self._holding.set()
                    deadline = time.monotonic() + c.seconds
                    while not self._stop.is_set() and time.monotonic() < deadline:
                        if c.kind == "long_transaction":
                            conn.execute("SELECT pg_sleep(0.2)")  # active, inside the old transaction
                        else:
                            self._stop.wait(min(0.2, max(0.0, deadline - time.monotonic())))
                conn.rollback()
        except psycopg.Error as exc:
            self.error = str(exc).strip()
        finally:
            self.ended = time.time()
            self._holding.set()
