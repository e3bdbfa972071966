"""Run SQL migration files statement by statement: time each one, capture its SQLSTATE, trace its locks.

Files are NNN_name.up.sql / NNN_name.down.sql, split by PostgreSQL's own parser. Statements run on one
connection, grouped into units that commit together (see `RunnerOptions.transaction`); a unit that fails on
a lock timeout is rolled back and retried after a fixed or exponential backoff when the options allow it.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pglast
import psycopg
from pglast import ast

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure, MigrationError
from harness.core.poller import Report
from harness.core.postgres import CHECK_APPLICATION, LOCK_NOT_AVAILABLE, MIGRATION_APPLICATION, QUERY_CANCELED
from harness.core.text import redact_sql
from harness.plan import RunnerOptions
from harness.plan.sql_files import migration_files as migration_files  # re-exported
from harness.plan.sql_files import sql_statements
from harness.records.run import Step
from harness.upgrade import trace

MAX_BACKOFF_S = 5.0
TERMINATE_AFTER_S = 5.0  # a cancelled statement still running after this has its backend terminated


class Deadline:
    """Bounds one statement: past `seconds` it is cancelled (the libpq cancel request, as pg_cancel_backend);
    if it is still running TERMINATE_AFTER_S later, its backend is terminated. `fired` says it expired."""

    def __init__(self, conn: psycopg.Connection, dsn: str, seconds: float) -> None:
        self.conn, self.dsn, self.seconds = conn, dsn, seconds
        self.pid = conn.info.backend_pid
        self.fired = False
        self._done = threading.Event()
        self._timer: threading.Timer | None = None

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        self._done.clear()
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()
        try:
            yield
        finally:
            self._done.set()
            self._timer.cancel()

    def _expire(self) -> None:
        if self._done.is_set():
            return
        self.fired = True
        with contextlib.suppress(Exception):
            self.conn.cancel_safe(timeout=5)
        if self._done.wait(TERMINATE_AFTER_S):
            return
        with contextlib.suppress(Exception), psycopg.connect(self.dsn, autocommit=True, connect_timeout=5,
                                                             application_name=CHECK_APPLICATION) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [self.pid])


@dataclass
class Unit:
    """Statements that commit together. `wrapped`: the runner adds BEGIN/COMMIT around them."""

    statements: list[tuple[int, str]] = field(default_factory=list)  # (index in file, sql)
    wrapped: bool = False


def statements(path: Path) -> list[str]:
    """The statements of one file, split by PostgreSQL's own parser."""
    return sql_statements(path)


def normalise(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def _is_transaction_control(sql: str) -> bool:
    return isinstance(pglast.parse_sql(sql)[0].stmt, ast.TransactionStmt)


def _opens(sql: str) -> bool:
    node = pglast.parse_sql(sql)[0].stmt
    return isinstance(node, ast.TransactionStmt) and node.kind in (0, 1)  # BEGIN, START TRANSACTION


def _closes(sql: str) -> bool:
    node = pglast.parse_sql(sql)[0].stmt
    return isinstance(node, ast.TransactionStmt) and node.kind in (2, 3, 8, 9)  # COMMIT, ROLLBACK (PREPARED)


def _configure(conn: psycopg.Connection, options: RunnerOptions) -> None:
    if options.lock_timeout_ms is not None:
        conn.execute(f"SET lock_timeout = {int(options.lock_timeout_ms)}")
    if options.statement_timeout_ms is not None:
        conn.execute(f"SET statement_timeout = {int(options.statement_timeout_ms)}")


def units(sqls: list[str], mode: str) -> list[Unit]:
    """Group a file's statements into units of commit for `mode`."""
    indexed = list(enumerate(sqls))
    if mode != "as_written":
        indexed = [(i, s) for i, s in indexed if not _is_transaction_control(s)]
    result: list[Unit] = []
    explicit: Unit | None = None
    for index, sql in indexed:
        if mode == "as_written":
            if explicit is not None:
                explicit.statements.append((index, sql))
                if _closes(sql):
                    explicit = None
                continue
            if _opens(sql):
                explicit = Unit([(index, sql)])
                result.append(explicit)
                continue
        traceable = trace.traceable_in_transaction(sql)
        if mode == "file" and traceable and result and result[-1].wrapped:
            result[-1].statements.append((index, sql))
        else:
            result.append(Unit([(index, sql)], wrapped=traceable))
    return result


class SqlRunner:
    """Verbs: run(files) applies files in order, recording a Step per statement through `record`;
    invalid_indexes() lists indexes a failed CONCURRENTLY build left behind."""

    def __init__(self, database: Database, record: Callable[[Step], None], options: RunnerOptions | None = None,
                 report: Report | None = None) -> None:
        self.database, self.record = database, record
        self.report: Report = report or (lambda message: None)
        self.options = options or RunnerOptions()
        self.txn = 0
        self.committed = 0  # statements committed since the caller last reset it
        self.pid: int | None = None  # the backend running migrations now
        self.killed_after_s: float | None = None

    def kill(self, after_s: float) -> bool:
        """Terminate the backend running the migration now (a migration process killed mid-way)."""
        pid = self.pid
        if pid is None:
            return False
        self.killed_after_s = after_s
        with psycopg.connect(self.database.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", [pid])
        return True

    def run(self, files: list[Path], phase: str, version: str, direction: str, seq: int = 0,
            options: RunnerOptions | None = None) -> int:
        """Apply `files` (with `options` instead of the runner's own, if given); returns the next sequence
        number. Raises MigrationError on the first error."""
        parsed = [(path, statements(path)) for path in files]  # parse everything before touching the database
        options = options or self.options
        self.killed_after_s = None
        try:
            conn = psycopg.connect(self.database.dsn(), autocommit=True, application_name=MIGRATION_APPLICATION,
                                   connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise EnvironmentFailure(f"cannot connect to the database to run {files[0].name if files else 'SQL'}: "
                                     f"{' '.join(str(exc).split())[:200]}") from None
        with conn:
            self.pid = conn.info.backend_pid
            try:
                _configure(conn, options)
                for path, sqls in parsed:
                    for unit in units(sqls, options.transaction):
                        seq = self._run_unit(conn, unit, path, phase, version, direction, seq, options)
                        self.committed += len(unit.statements)
            finally:
                self.pid = None
        return seq

    def invalid_indexes(self) -> list[str]:
        """Indexes marked invalid (a failed CONCURRENTLY build); empty when the database cannot be asked."""
        try:
            with psycopg.connect(self.database.dsn(), autocommit=True, connect_timeout=5) as conn:
                return [row[0] for row in conn.execute(
                    "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid ORDER BY 1")]
        except psycopg.Error as exc:
            self.report(f"cannot list invalid indexes: {' '.join(str(exc).split())[:200]}")
            return []

    def _run_unit(self, conn: psycopg.Connection, unit: Unit, path: Path, phase: str, version: str,
                  direction: str, seq: int, options: RunnerOptions) -> int:
        single = unit.wrapped and len(unit.statements) == 1  # recorded at its COMMIT: its locks lasted till then

        def new_step(sql: str, index: int | None, attempt: int) -> Step:
            nonlocal seq
            seq += 1
            return Step(phase, seq, version, direction, path.name, normalise(redact_sql(sql)), time.time(),
                        pid=conn.info.backend_pid, statement_index=index, txn=self.txn, attempt=attempt)

        deadline = Deadline(conn, self.database.dsn(), options.step_deadline_s)
        for attempt in range(1, options.lock_retries + 2):
            self.txn += 1
            pending: Step | None = None
            try:
                if unit.wrapped:
                    conn.execute("BEGIN")
                for index, sql in unit.statements:
                    pending = new_step(sql, index, attempt)
                    with deadline.watch():
                        self._execute_traced(conn, pending, sql)
                    if not single:
                        self.record(pending)
                        pending = None
                if unit.wrapped:
                    pending = pending or new_step("COMMIT", None, attempt)
                    with deadline.watch():
                        conn.execute("COMMIT")
                    pending.ended = time.time()
                    self.record(pending)
                return seq
            except psycopg.Error as exc:
                failed = pending or new_step("BEGIN", None, attempt)
                failed.ended = time.time()
                failed.sqlstate = exc.sqlstate
                failed.error = (exc.diag.message_primary or str(exc)).strip()
                if self.killed_after_s is not None:
                    failed.error = f"killed by the harness after {self.killed_after_s:g} s mid-way ({failed.error})"
                if deadline.fired:
                    failed.sqlstate = failed.sqlstate or QUERY_CANCELED
                    failed.error = (f"exceeded its deadline of {options.step_deadline_s:g} s (step_deadline_s): "
                                    f"cancelled ({failed.error})")
                self.record(failed)
                if conn.broken and not deadline.fired and self.killed_after_s is None:
                    raise EnvironmentFailure(f"the database connection was lost during {path.name} "
                                             f"(statement {failed.seq}): {' '.join(failed.error.split())[:200]}"
                                             ) from None
                if conn.broken:
                    raise MigrationError(failed) from None
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                if self.killed_after_s is not None:
                    raise MigrationError(failed) from None
                if exc.sqlstate == LOCK_NOT_AVAILABLE and attempt <= options.lock_retries:
                    time.sleep(options.backoff_s(attempt, MAX_BACKOFF_S))
                    continue
                raise MigrationError(failed) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _execute_traced(self, conn: psycopg.Connection, step: Step, sql: str) -> None:
        """Execute one statement; record the locks it took and the relations it rewrote."""
        in_transaction = conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        if _is_transaction_control(sql):
            conn.execute(sql)
            step.ended = time.time()
            return
        before = trace.read_catalog(conn)
        held_before = trace.own_locks(conn, conn.info.backend_pid) if in_transaction else set()
        pid = conn.info.backend_pid
        watcher = None if in_transaction else trace.LockWatcher(self.database.dsn(), pid, self.report)
        if watcher is not None:
            watcher.start()
        try:
            conn.execute(sql)
        except psycopg.Error:
            if watcher is not None:
                watcher.stop()
            raise
        step.ended = time.time()
        if watcher is not None:
            held = taken = watcher.stop_and_collect()
        else:
            held = trace.own_locks(conn, pid)
            taken = held - held_before
        step.locks = trace.named(taken, before)
        step.locks_held = trace.named(held, before)
        step.rewrites = trace.rewrites(before, trace.read_catalog(conn))
