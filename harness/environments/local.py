"""The embedded default: an ephemeral local PostgreSQL plus the service as a subprocess."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.processes import OwnedProcess, free_loopback_port, run_env
from harness.core.text import expand
from harness.environments.base import release_log, service_environment
from harness.environments.local_postgres import LocalPostgres
from harness.environments.server_settings import explain_start_failure
from harness.plan import Plan, Release, placeholders, runtime_env


class LocalInstance:
    """One service process of one release on a port of its own. Verbs: failure(), environ(), stop()."""

    def __init__(self, release: Release, port: int, process: OwnedProcess, stop_timeout_s: float) -> None:
        self.release, self.port, self.process, self.stop_timeout_s = release, port, process, stop_timeout_s
        self.stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def failure(self) -> str | None:
        if self.process.running():
            return None
        return f"exited with code {self.process.popen.returncode}: {self.process.log_tail()}"

    def environ(self) -> dict[str, str] | None:
        """The process's environment, from /proc (None once it is gone)."""
        try:
            raw = Path(f"/proc/{self.process.pid}/environ").read_bytes()
        except OSError:
            return None
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}

    def stop(self) -> None:
        """Stop it (SIGTERM, SIGKILL after service.stop_timeout_s); idempotent."""
        if not self.stopped:
            self.stopped = True
            self.process.stop(timeout=self.stop_timeout_s)


class LocalEnvironment:
    """Verbs: start_database, start_service, stop_service, start_instance, close (environments.base.Environment)."""

    name = "local"

    def __init__(self, plan: Plan, run_dir: Path, run_id: str) -> None:
        self.plan, self.run_dir = plan, run_dir
        self.child_env = {**os.environ, **run_env(run_id)}
        self.postgres = LocalPostgres(run_dir, plan.postgres_bin, plan.database, self.child_env, run_id,
                                      plan.server_settings, version=plan.postgres_version,
                                      extensions=plan.extensions)
        self.server_source = f"{self.postgres.install.bin_dir}, {self.postgres.install.source}"
        self.port = free_loopback_port()
        self.database: Database | None = None
        self.service: LocalInstance | None = None
        self.instances: list[LocalInstance] = []
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
        self.service = self._launch(release, self.port)
        return self.url

    def start_instance(self, release: Release) -> LocalInstance:
        """Start `release` alongside whatever runs, on a free port of its own."""
        return self._launch(release, free_loopback_port())

    def _launch(self, release: Release, port: int) -> LocalInstance:
        if self.database is None:
            raise EnvironmentFailure("the database must be started before the service")
        env = self.child_env | runtime_env(release, self.child_env) | service_environment(
            self.plan, release, port, "127.0.0.1", self.database)
        # The command line is visible to every user (ps): its {dsn} has no password, PGPASSWORD carries it.
        values = placeholders(self.plan, release, self.database, command=True, port=str(port))
        argv = [expand(part, values) for part in release.command]
        self.starts += 1
        process = OwnedProcess(f"service {release.version}", argv, release_log(self.run_dir, release, self.starts),
                               cwd=release.dir, env=env)
        instance = LocalInstance(release, port, process, self.plan.stop_timeout_s)
        self.instances.append(instance)
        return instance

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def service_failure(self) -> str | None:
        return "not started" if self.service is None else self.service.failure()

    def service_environ(self) -> dict[str, str] | None:
        return None if self.service is None else self.service.environ()

    def stop_service(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def close(self) -> None:
        try:
            self.stop_service()
            for instance in self.instances:
                instance.stop()
        finally:
            self.postgres.stop()
