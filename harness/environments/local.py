"""The embedded default: an ephemeral local PostgreSQL plus the service as a subprocess."""

from __future__ import annotations

import os
from pathlib import Path

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.processes import RUN_ID_ENV, OwnedProcess, free_loopback_port
from harness.core.text import expand
from harness.environments.base import release_log, service_environment
from harness.environments.local_postgres import LocalPostgres
from harness.environments.server_settings import explain_start_failure
from harness.plan import Plan, Release, placeholders


class LocalEnvironment:
    """Verbs: start_database, start_service, stop_service, close (see environments.base.Environment)."""

    name = "local"

    def __init__(self, plan: Plan, run_dir: Path, run_id: str) -> None:
        self.plan, self.run_dir = plan, run_dir
        self.child_env = {**os.environ, RUN_ID_ENV: run_id}
        self.postgres = LocalPostgres(run_dir, plan.postgres_bin, plan.database, self.child_env, run_id,
                                      plan.server_settings)
        self.port = free_loopback_port()
        self.database: Database | None = None
        self.service: OwnedProcess | None = None
        self.starts = 0

    def start_database(self) -> Database:
        try:
            self.database = self.postgres.start()
        except EnvironmentFailure as failure:
            log = self.postgres.log_path
            text = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise explain_start_failure(failure, text, self.plan) from None
        return self.database

    def start_service(self, release: Release) -> str:
        if self.database is None:
            raise EnvironmentFailure("the database must be started before the service")
        dsn = self.database.dsn()
        env = self.child_env | service_environment(self.plan, release, self.port, "127.0.0.1", dsn)
        values = placeholders(self.plan, release, port=str(self.port), dsn=dsn)
        argv = [expand(part, values) for part in release.command]
        self.starts += 1
        self.service = OwnedProcess(f"service {release.version}", argv,
                                    release_log(self.run_dir, release, self.starts), cwd=release.dir, env=env)
        return self.url

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
            self.stop_service()
        finally:
            self.postgres.stop()
