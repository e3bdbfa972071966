"""Run a migration tool's command (alembic upgrade, flyway migrate, ...) as one recorded step.

The command gets DATABASE_URL and the PG* variables; PGAPPNAME marks its backends so that observers can
attribute the waits they cause, and PGOPTIONS makes the server log every statement it runs. The runner fires
`migration_started` / `migration_ended` around it, so that observers can trace the tool's own backends.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from harness.core.database import Database
from harness.core.errors import MigrationError
from harness.core.postgres import MIGRATION_APPLICATION, STATEMENT_LOGGING_OPTIONS
from harness.core.processes import RUN_ID_ENV, kill_group, last_line, run_logged
from harness.core.text import expand, redact
from harness.events import Events
from harness.records.run import Step


class CommandRunner:
    """Verbs: run(argv) executes one migration command and records it as a Step through `record`."""

    def __init__(self, database: Database, record: Callable[[Step], None], log_path: Path, run_id: str,
                 events: Events) -> None:
        self.database, self.record, self.log_path = database, record, log_path
        self.run_id, self.events = run_id, events
        self.process: subprocess.Popen | None = None
        self.killed_after_s: float | None = None

    def kill(self, after_s: float) -> bool:
        """Kill the running command's process group (SIGKILL), as a crashed deploy would; False if none runs."""
        process = self.process
        if process is None or process.poll() is not None:
            return False
        self.killed_after_s = after_s
        kill_group(process.pid)
        return True

    def run(self, argv: list[str], cwd: Path, values: dict[str, str], phase: str, version: str, direction: str,
            seq: int = 0) -> int:
        """Run `argv` to completion; returns the next sequence number. Raises MigrationError when it fails."""
        argv = [expand(part, values | {"dsn": self.database.dsn()}) for part in argv]
        env = {**os.environ, RUN_ID_ENV: self.run_id, **self.database.libpq_env(MIGRATION_APPLICATION),
               "PGOPTIONS": f"{os.environ.get('PGOPTIONS', '')} {STATEMENT_LOGGING_OPTIONS}".strip()}
        shown = redact(" ".join(argv), self.database.password)
        seq += 1
        step = Step(phase, seq, version, direction, shown, shown, time.time(), origin="command")
        with open(self.log_path, "ab") as log:
            log.write(f"$ {shown}\n".encode())
        self.events.migration_started.fire(phase=phase, version=version, direction=direction, source=shown,
                                           command=argv)
        code = 127
        self.killed_after_s = None

        def started(process: subprocess.Popen) -> None:
            self.process = process

        try:
            code = run_logged(argv, cwd, env, self.log_path, on_start=started)
        finally:
            self.process = None
            self.events.migration_ended.fire(phase=phase, version=version, direction=direction, source=shown,
                                             failed=code != 0)
        step.ended = time.time()
        if code != 0 and self.killed_after_s is not None:
            step.error = f"killed by the harness after {self.killed_after_s:g} s (SIGKILL), mid-way"
            self.record(step)
            raise MigrationError(step)
        if code != 0:
            step.error = f"exit code {code}: {redact(last_line(self.log_path), self.database.password)}"
            self.record(step)
            raise MigrationError(step)
        self.record(step)
        return seq
