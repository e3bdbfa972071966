"""Run a migration tool's command (alembic upgrade, flyway migrate, ...) as one recorded step.

The command gets DATABASE_URL and the PG* variables ({dsn} on its command line has no password: libpq reads
PGPASSWORD); PGAPPNAME marks its backends so that observers can attribute the waits they cause, and PGOPTIONS
makes the server log every statement it runs. The runner fires `migration_started` / `migration_ended` around
it, so that observers can trace the tool's own backends. A command still running after its deadline
(`step_deadline_s`) is stopped, and the statements its backends were running are named, then cancelled.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from harness.core.database import Database
from harness.core.errors import MigrationError
from harness.core.postgres import CHECK_APPLICATION, MIGRATION_APPLICATION, QUERY_CANCELED, STATEMENT_LOGGING_OPTIONS
from harness.core.processes import DeadlineExceeded, kill_group, last_line, run_env, run_logged
from harness.core.text import expand, one_line, redact
from harness.events import Events
from harness.plan import DEFAULT_STEP_DEADLINE_S
from harness.records.run import Step

BACKENDS_SQL = """
SELECT pid, left(query, 500), extract(epoch FROM now() - query_start)::float8 FROM pg_stat_activity
WHERE application_name = %s AND state <> 'idle' AND pid <> pg_backend_pid() ORDER BY query_start
"""


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
            seq: int = 0, deadline_s: float = DEFAULT_STEP_DEADLINE_S) -> int:
        """Run `argv` to completion; returns the next sequence number. Raises MigrationError when it fails or
        runs past `deadline_s`."""
        argv = [expand(part, values | {"dsn": self.database.dsn_without_password()}) for part in argv]
        env = {**os.environ, **run_env(self.run_id), **self.database.libpq_env(MIGRATION_APPLICATION),
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
        hung: list[int] = []

        def started(process: subprocess.Popen[bytes]) -> None:
            self.process = process

        try:
            code = run_logged(argv, cwd, env, self.log_path, deadline_s, lambda: self._hung(hung), on_start=started)
        except DeadlineExceeded as exceeded:
            self._terminate(hung)
            step.ended = time.time()
            step.sqlstate = QUERY_CANCELED
            step.error = redact(f"{exceeded} (step_deadline_s): the command was stopped"
                                + ("" if exceeded.note else "; none of its backends was running a statement"),
                                self.database.password)
            self.record(step)
            raise MigrationError(step) from None
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

    def _hung(self, pids: list[int]) -> str:
        """What the command's backends are running at its deadline (they are cancelled once it is stopped)."""
        with psycopg.connect(self.database.dsn(), autocommit=True, connect_timeout=5,
                             application_name=CHECK_APPLICATION) as conn:
            rows = conn.execute(BACKENDS_SQL, [MIGRATION_APPLICATION]).fetchall()
        pids += [row[0] for row in rows]
        return "; ".join(f"it was running {one_line(query, 200)!r} (backend {pid}, for {seconds:.1f} s)"
                         for pid, query, seconds in rows)

    def _terminate(self, pids: list[int]) -> None:
        """Backends of a stopped command may go on (a sleeping or waiting statement does not notice)."""
        if not pids:
            return
        with contextlib.suppress(psycopg.Error), psycopg.connect(
                self.database.dsn(), autocommit=True, connect_timeout=5, application_name=CHECK_APPLICATION) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
