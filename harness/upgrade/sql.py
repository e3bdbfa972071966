"""Run SQL migration files statement by statement: time each one, capture its SQLSTATE, trace its locks.

Files are NNN_name.up.sql / NNN_name.down.sql, split by PostgreSQL's own parser. Statements run on one
connection, grouped into units that commit together (see `RunnerOptions.transaction`); a unit that fails on
a lock timeout is rolled back and retried after a fixed or exponential backoff when the options allow it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pglast
import psycopg
from pglast import ast

from harness.core.database import Database
from harness.core.errors import MigrationError, SqlInputError
from harness.core.poller import Report
from harness.core.postgres import LOCK_NOT_AVAILABLE, MIGRATION_APPLICATION
from harness.plan import RunnerOptions
from harness.records.run import Step
from harness.upgrade import trace

MAX_BACKOFF_S = 5.0


@dataclass
class Unit:
    """Statements that commit together. `wrapped`: the runner adds BEGIN/COMMIT around them."""

    statements: list[tuple[int, str]] = field(default_factory=list)  # (index in file, sql)
    wrapped: bool = False


def migration_files(directory: Path, direction: str) -> list[Path]:
    """The files to run for `direction` ("up" or "down") in the order they run."""
    files = sorted(directory.glob(f"*.{direction}.sql"))
    return list(reversed(files)) if direction == "down" else files


def statements(path: Path) -> list[str]:
    """The statements of one file, split by PostgreSQL's own parser."""
    try:
        return list(pglast.split(path.read_text(encoding="utf-8"), with_parser=True))
    except UnicodeDecodeError as exc:
        raise SqlInputError(path, "", f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SqlInputError(path, "", exc.strerror or str(exc)) from None
    except pglast.parser.ParseError as exc:
        raise SqlInputError(path, "", f"cannot parse SQL: {exc}") from None


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

    def run(self, files: list[Path], phase: str, version: str, direction: str, seq: int = 0,
            options: RunnerOptions | None = None) -> int:
        """Apply `files` (with `options` instead of the runner's own, if given); returns the next sequence
        number. Raises MigrationError on the first error."""
        parsed = [(path, statements(path)) for path in files]  # parse everything before touching the database
        options = options or self.options
        with psycopg.connect(self.database.dsn(), autocommit=True, application_name=MIGRATION_APPLICATION) as conn:
            _configure(conn, options)
            for path, sqls in parsed:
                for unit in units(sqls, options.transaction):
                    seq = self._run_unit(conn, unit, path, phase, version, direction, seq, options)
        return seq

    def invalid_indexes(self) -> list[str]:
        with psycopg.connect(self.database.dsn(), autocommit=True) as conn:
            return [row[0] for row in conn.execute(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid ORDER BY 1")]

    def _run_unit(self, conn: psycopg.Connection, unit: Unit, path: Path, phase: str, version: str,
                  direction: str, seq: int, options: RunnerOptions) -> int:
        single = unit.wrapped and len(unit.statements) == 1  # recorded at its COMMIT: its locks lasted till then

        def new_step(sql: str, index: int | None, attempt: int) -> Step:
            nonlocal seq
            seq += 1
            return Step(phase, seq, version, direction, path.name, normalise(sql), time.time(),
                        pid=conn.info.backend_pid, statement_index=index, txn=self.txn, attempt=attempt)

        for attempt in range(1, options.lock_retries + 2):
            self.txn += 1
            pending: Step | None = None
            try:
                if unit.wrapped:
                    conn.execute("BEGIN")
                for index, sql in unit.statements:
                    pending = new_step(sql, index, attempt)
                    self._execute_traced(conn, pending, sql)
                    if not single:
                        self.record(pending)
                        pending = None
                if unit.wrapped:
                    pending = pending or new_step("COMMIT", None, attempt)
                    conn.execute("COMMIT")
                    pending.ended = time.time()
                    self.record(pending)
                return seq
            except psycopg.Error as exc:
                failed = pending or new_step("BEGIN", None, attempt)
                failed.ended = time.time()
                failed.sqlstate = exc.sqlstate
                failed.error = (exc.diag.message_primary or str(exc)).strip()
                self.record(failed)
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
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
