"""The embedded default: an ephemeral local PostgreSQL plus the service as a subprocess."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.processes import OwnedProcess, free_loopback_port, run_env
from harness.core.text import expand
from harness.environments.base import OTHER_START_INDEX, release_log, service_environment
from harness.environments.local_postgres import LocalPostgres
from harness.environments.server_settings import explain_start_failure
from harness.plan import Plan, Release, placeholders


class LocalEnvironment:
    """Verbs: start_database, start_service, stop_service, close (see environments.base.Environment)."""

    name = "local"

    def __init__(self, plan: Plan, run_dir: Path, run_id: str) -> None:
        self.plan, self.run_dir = plan, run_dir
        self.child_env = {**os.environ, **run_env(run_id)}
        self.postgres = LocalPostgres(run_dir, plan.postgres_bin, plan.database, self.child_env, run_id,
                                      plan.server_settings)
        self.port = free_loopback_port()
        self.database: Database | None = None
        self.service: OwnedProcess | None = None
        self.other: OwnedProcess | None = None
        self.starts = 0

    def start_database(self) -> Database:
        try:
            self.database = self.postgres.start()
        except EnvironmentFailure as failure:
            raise explain_start_failure(failure, self._server_log_tail(), self.plan) from None
        return self.database

    def _server_log_tail(self, wait_s: float = 2.0) -> str:
        """The end of the server's log once the server's last words reached it (its output is copied by a
        thread, which may lag behind its exit)."""
        deadline = time.monotonic() + wait_s
        while True:
            log = self.postgres.log_path
            text = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            if "FATAL" in text or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def start_service(self, release: Release) -> str:
        self.starts += 1
        self.service = self._process(release, self.port, self.starts, f"service {release.version}")
        return self.url

    def start_other(self, release: Release) -> str:
        self.stop_other()
        self.starts += 1
        port = free_loopback_port()
        self.other = self._process(release, port, OTHER_START_INDEX + self.starts,
                                   f"service {release.version} (beside)")
        return f"http://127.0.0.1:{port}"

    def _process(self, release: Release, port: int, index: int, name: str) -> OwnedProcess:
        if self.database is None:
            raise EnvironmentFailure("the database must be started before the service")
        dsn = self.database.dsn()
        env = self.child_env | {"PGPASSWORD": self.database.password} | service_environment(
            self.plan, release, port, "127.0.0.1", dsn)
        # The command line is visible to every user (ps): its {dsn} has no password, PGPASSWORD carries it.
        values = placeholders(self.plan, release, port=str(port), dsn=self.database.dsn_without_password())
        argv = [expand(part, values) for part in release.command]
        return OwnedProcess(name, argv, release_log(self.run_dir, release, index), cwd=release.dir, env=env)

    def other_failure(self) -> str | None:
        if self.other is None:
            return "not started"
        if self.other.running():
            return None
        return f"exited with code {self.other.popen.returncode}: {self.other.log_tail()}"

    def stop_other(self) -> None:
        if self.other is not None:
            self.other.stop(timeout=self.plan.stop_timeout_s)
            self.other = None

    def service_environ(self) -> dict[str, str] | None:
        if self.service is None:
            return None
        try:
            raw = Path(f"/proc/{self.service.pid}/environ").read_bytes()
        except OSError:
            return None
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def service_failure(self) -> str | None:
        if self.service is None:
            return "not started"
        if self.service.running():
            return None
        return f"exited with code {self.service.popen.returncode}: {self.service.log_tail()}"

    def stop_service(self) -> None:
        if self.service is not None:
            self.service.stop(timeout=self.plan.stop_timeout_s)
            self.service = None

    def close(self) -> None:
        try:
            self.stop_other()
            self.stop_service()
        finally:
            self.postgres.stop()
