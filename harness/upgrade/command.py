"""Run a migration tool's command (alembic upgrade, flyway migrate, ...) as one recorded step.

The command gets DATABASE_URL and the PG* variables; PGAPPNAME marks its backends so that observers can
attribute the waits they cause, and PGOPTIONS makes the server log every statement it runs. The runner fires
`migration_started` / `migration_ended` around it, so that observers can trace the tool's own backends.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from harness.core.database import Database
from harness.core.errors import MigrationError
from harness.core.postgres import MIGRATION_APPLICATION, STATEMENT_LOGGING_OPTIONS
from harness.core.processes import RUN_ID_ENV, run_logged
from harness.core.text import expand, redact
from harness.events import Events
from harness.records.run import Step

_ERROR_LINE = re.compile(r"(?i)\b(error|exception|fatal|failed)\b|^\w+(\.\w+)*(Error|Exception):")
_NOISE = re.compile(r"^\s*(\(Background on this error at:|\[SQL:|Traceback|File \")")


def error_line(log: Path, offset: int = 0) -> str:
    """The line of a command's output (from `offset` on) that says why it failed: the last one naming an
    error (a driver's "psycopg.errors.FeatureNotSupported: ..."), else its last line."""
    try:
        with open(log, "rb") as out:
            out.seek(offset)
            lines = [line.strip() for line in out.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    named = [line for line in lines if _ERROR_LINE.search(line) and not _NOISE.match(line)]
    return (named or lines or [""])[-1][:500]


class CommandRunner:
    """Verbs: run(argv) executes one migration command and records it as a Step through `record`."""

    def __init__(self, database: Database, record: Callable[[Step], None], log_path: Path, run_id: str,
                 events: Events) -> None:
        self.database, self.record, self.log_path = database, record, log_path
        self.run_id, self.events = run_id, events

    def run(self, argv: list[str], cwd: Path, values: dict[str, str], phase: str, version: str, direction: str,
            seq: int = 0, extra_env: dict[str, str] | None = None) -> int:
        """Run `argv` to completion (`values` fill its placeholders; `extra_env` is the release's runtime);
        returns the next sequence number. Raises MigrationError when it fails."""
        argv = [expand(part, values | {"dsn": self.database.dsn()}) for part in argv]
        env = {**os.environ, RUN_ID_ENV: self.run_id, **(extra_env or {}),
               **self.database.libpq_env(MIGRATION_APPLICATION),
               "PGOPTIONS": f"{os.environ.get('PGOPTIONS', '')} {STATEMENT_LOGGING_OPTIONS}".strip()}
        shown = redact(" ".join(argv), self.database.password)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        seq += 1
        step = Step(phase, seq, version, direction, shown, shown, time.time(), origin="command")
        with open(self.log_path, "ab") as log:
            log.write(f"$ {shown}\n".encode())
        self.events.migration_started.fire(phase=phase, version=version, direction=direction, source=shown,
                                           command=argv)
        code = 127
        try:
            code = run_logged(argv, cwd, env, self.log_path)
        finally:
            self.events.migration_ended.fire(phase=phase, version=version, direction=direction, source=shown,
                                             failed=code != 0)
        step.ended = time.time()
        if code != 0:
            step.error = f"exit code {code}: {redact(error_line(self.log_path, offset), self.database.password)}"
            self.record(step)
            raise MigrationError(step)
        self.record(step)
        return seq
