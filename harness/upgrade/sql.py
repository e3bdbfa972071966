"""Run SQL migration files statement by statement, timing each and capturing its SQLSTATE.

Files are NNN_name.up.sql / NNN_name.down.sql. Statements run on one autocommit connection, so a file's own
BEGIN ... COMMIT makes a transaction, and CONCURRENTLY statements outside one work as written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pglast
import psycopg

from harness.environments.base import Database
from harness.upgrade.steps import MIGRATION_APPLICATION, MigrationFailed, Step


class SqlInputError(Exception):
    """A migration file that cannot be parsed: names the file and the problem."""


def migration_files(directory: Path, direction: str) -> list[Path]:
    """The files to run for `direction` ("up" or "down") in the order they run."""
    files = sorted(directory.glob(f"*.{direction}.sql"))
    return list(reversed(files)) if direction == "down" else files


def statements(path: Path) -> list[str]:
    """The statements of one file, split by PostgreSQL's own parser."""
    try:
        return list(pglast.split(path.read_text(), with_parser=True))
    except pglast.parser.ParseError as exc:
        raise SqlInputError(f"{path}: cannot parse SQL: {exc}") from None


def normalise(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


class SqlRunner:
    """Verbs: run(files) applies files in order, recording a Step per statement through `record`."""

    def __init__(self, database: Database, record: Callable[[Step], None]) -> None:
        self.database, self.record = database, record

    def run(self, files: list[Path], phase: str, version: str, direction: str, seq: int = 0) -> int:
        """Apply `files`; returns the next sequence number. Raises MigrationFailed on the first error."""
        parsed = [(path, statements(path)) for path in files]  # parse everything before touching the database
        with psycopg.connect(self.database.dsn(), autocommit=True, application_name=MIGRATION_APPLICATION) as conn:
            pid = conn.info.backend_pid
            for path, sqls in parsed:
                for sql in sqls:
                    seq += 1
                    step = Step(phase, seq, version, direction, path.name, normalise(sql), time.time(), pid=pid)
                    try:
                        conn.execute(sql)
                    except psycopg.Error as exc:
                        step.ended = time.time()
                        step.sqlstate = exc.sqlstate
                        step.error = (exc.diag.message_primary or str(exc)).strip()
                        self.record(step)
                        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                            conn.execute("ROLLBACK")
                        raise MigrationFailed(step) from None
                    step.ended = time.time()
                    self.record(step)
        return seq
