"""Run a migration tool's command (alembic upgrade, flyway migrate, ...) as one recorded step.

The command gets DATABASE_URL and the PG* variables; PGAPPNAME marks its backends so the lock sampler can
attribute the waits they cause.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from harness.environments.base import Database, expand, redact
from harness.environments.processes import RUN_ID_ENV, last_line, run_logged
from harness.observe.migration_backends import BackendTracer
from harness.observe.statement_log import STATEMENT_LOGGING_OPTIONS
from harness.rundir import JsonLines
from harness.upgrade.steps import MIGRATION_APPLICATION, MigrationFailed, Step


class CommandRunner:
    """Verbs: run(argv) executes one migration command and records it as a Step through `record`."""

    def __init__(self, database: Database, record: Callable[[Step], None], log_path: Path, run_id: str,
                 values: dict[str, str], backends: JsonLines | None = None) -> None:
        self.database, self.record, self.log_path = database, record, log_path
        self.run_id, self.values, self.backends = run_id, values, backends

    def run(self, argv: list[str], cwd: Path, phase: str, version: str, direction: str, seq: int = 0) -> int:
        """Run `argv` to completion; returns the next sequence number. Raises MigrationFailed when it fails."""
        values = self.values | {"dsn": self.database.dsn()}
        argv = [expand(part, values) for part in argv]
        env = {**os.environ, RUN_ID_ENV: self.run_id, **self.database.libpq_env(MIGRATION_APPLICATION),
               "PGOPTIONS": f"{os.environ.get('PGOPTIONS', '')} {STATEMENT_LOGGING_OPTIONS}".strip()}
        shown = redact(" ".join(argv), self.database.password)
        seq += 1
        step = Step(phase, seq, version, direction, shown, shown, time.time())
        with open(self.log_path, "ab") as log:
            log.write(f"$ {shown}\n".encode())
        tracer = BackendTracer(self.database, self.backends) if self.backends is not None else None
        if tracer is not None:
            tracer.start()
        try:
            code = run_logged(argv, cwd, env, self.log_path)
        finally:
            if tracer is not None:
                tracer.stop()
        step.ended = time.time()
        if code != 0:
            step.error = f"exit code {code}: {redact(last_line(self.log_path), self.database.password)}"
            self.record(step)
            raise MigrationFailed(step)
        self.record(step)
        return seq

