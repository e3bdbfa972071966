"""Contention injectors: an old transaction, an idle-in-transaction session or a long analytic query, started
when a phase begins, to rehearse the lock-queue trap (a DDL waits behind one old transaction, and every
request queues behind the DDL). A session runs the plan's own `query`, or a built-in one on `table`; the
phase's first action waits `lead_s` after the sessions hold their locks, so the DDL meets an old session."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psycopg
from psycopg import sql

from harness.core.database import Database
from harness.core.poller import Poller, Report
from harness.core.postgres import CONTENTION_APPLICATION
from harness.core.streams import JsonLines
from harness.events import Events
from harness.observe.base import ObserverContext
from harness.plan import Contention
from harness.records.run import ContentionRecord, Phase

APPLICATION_NAME = CONTENTION_APPLICATION
STREAM = "contention.jsonl"


class Injector(Poller):
    """Verbs: start() opens the session and returns once it holds its lock; stop() ends it (rolls back).
    A long_query holds its lock for its whole single poll; the transactions poll until their time is up."""

    name = "contention"

    def __init__(self, database: Database, contention: Contention, report: Report) -> None:
        super().__init__(0.2, report)
        self.database, self.contention = database, contention
        self.record = ContentionRecord(contention.kind, contention.table, contention.phase, contention.seconds,
                                       query=contention.query, lead_s=contention.lead_s)
        self.conn: psycopg.Connection | None = None
        self.deadline = 0.0
        self.table = sql.Identifier(*contention.table.split(".")) if contention.table else None

    def connect(self) -> None:
        self.conn = psycopg.connect(self.database.dsn(), application_name=APPLICATION_NAME)
        self.record.started = time.time()
        self.deadline = time.monotonic() + self.contention.seconds
        if self.contention.kind != "long_query":
            self.conn.execute(self._opening())  # opens the transaction, takes the locks

    def _opening(self) -> sql.SQL | sql.Composed:
        if self.contention.query is not None:
            return sql.SQL(self.contention.query)  # the plan's own SQL, as written
        return sql.SQL("SELECT 1 FROM {} LIMIT 1").format(self.table)

    def _long_query(self) -> None:
        """One query holding its locks until it ends: the plan's own (cut at `seconds`), or a sleep on table."""
        assert self.conn is not None
        if self.contention.query is None:
            self.conn.execute(sql.SQL("SELECT count(*), pg_sleep(%s) FROM (SELECT 1 FROM {} LIMIT 1) t")
                              .format(self.table), [self.contention.seconds])
            return
        self.conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(int(self.contention.seconds
                                                                                        * 1000))))
        with contextlib.suppress(psycopg.errors.QueryCanceled):  # its time was up: what `seconds` means
            self.conn.execute(self._opening())

    def poll(self) -> None:
        assert self.conn is not None
        try:
            if self.contention.kind == "long_query":
                self.finish()  # one query: it takes its lock at once and holds it until it ends
                self._long_query()
            elif time.monotonic() >= self.deadline:
                self.finish()
            elif self.contention.kind == "long_transaction":
                self.conn.execute("SELECT pg_sleep(0.2)")  # active, inside the old transaction
        except psycopg.Error as exc:
            self.finish()
            raise RuntimeError(" ".join(str(exc).split())) from None

    def disconnect(self) -> None:
        if self.conn is not None:
            try:
                self.conn.rollback()
            finally:
                self.conn.close()
        self.record.ended = time.time()

    def stop(self, timeout_s: float = 10.0) -> None:
        super().stop(self.contention.seconds + timeout_s)


class ContentionObserver:
    """Observer: starts the plan's injectors when their phase begins and stops them when it ends."""

    name = "contention"

    def __init__(self, context: ObserverContext) -> None:
        self.context = context
        self.out = JsonLines(context.run.stream(STREAM))
        self.running: list[Injector] = []

    def attach(self, events: Events) -> None:
        events.phase_started.add_listener(self._phase_started)
        events.phase_ended.add_listener(self._phase_ended)

    def _phase_started(self, phase: Phase, **_: Any) -> None:
        lead_s = 0.0
        for contention in self.context.plan.contention:
            if contention.phase == phase.name:
                injector = Injector(self.context.database, contention, self._reporter(contention))
                self.running.append(injector)
                injector.start(ready_timeout_s=10)
                lead_s = max(lead_s, contention.lead_s)
        if lead_s:
            time.sleep(lead_s)  # listeners run before the phase's actions: this delays its first one

    def _reporter(self, contention: Contention) -> Report:
        def report(message: str) -> None:
            for injector in self.running:
                if injector.contention is contention and injector.record.error is None:
                    injector.record.error = message
            self.context.report_error(self.name, message)
        return report

    def _phase_ended(self, **_: Any) -> None:
        self._stop_all()

    def _stop_all(self) -> None:
        while self.running:
            injector = self.running.pop(0)
            injector.stop()
            self.out.write(injector.record.__dict__)

    def close(self) -> None:
        self._stop_all()
        self.out.close()


def contention_records(rows: list[dict[str, Any]]) -> list[ContentionRecord]:
    return [ContentionRecord(**row) for row in rows]
