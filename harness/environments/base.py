"""What every environment provides: a database, and a service that can be started and stopped by version."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from harness.core.database import Database
from harness.core.text import expand
from harness.plan import Plan, Release, placeholders


class Instance(Protocol):
    """A running service of one release at a URL of its own (an environment's start_instance)."""

    release: Release

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT"""

    def failure(self) -> str | None:
        """Why it is not running (exit code, last log lines), or None while it runs."""

    def environ(self) -> dict[str, str] | None:
        """Its process environment as it really is (None when it cannot be read)."""

    def stop(self) -> None:
        """Stop it, waiting for it to exit; idempotent."""


class Environment(Protocol):
    """A place to rehearse in. Each verb blocks until done; `close` always tears everything down.

    `start_service` runs the service at one URL that every release answers at (restart swaps);
    `start_instance` runs a release beside whatever runs, on a port of its own: the new version of a blue_green
    swap, the other version of a mixed-versions window (service.swap.ServiceControl runs both)."""

    name: str

    def start_database(self) -> Database:
        """Start PostgreSQL, create the plan's database, and return how to reach it from this host."""

    def start_service(self, release: Release) -> str:
        """Start the service at `release` and return its base URL (same URL for every release)."""

    def service_failure(self) -> str | None:
        """Why the service is not running (exit code, last log lines), or None while it runs."""

    def stop_service(self) -> None:
        """Stop the running service, waiting for it to exit."""

    def start_instance(self, release: Release) -> Instance:
        """Start `release` beside whatever runs, on a port of its own; the caller waits for its health."""

    def service_environ(self) -> dict[str, str] | None:
        """The running service's process environment as it really is (None when it cannot be read)."""

    def close(self) -> None:
        """Stop everything this environment started and remove what it created."""


def service_environment(plan: Plan, release: Release, port: int, host: str, database: Database,
                        python: str | None = None) -> dict[str, str]:
    """What every service gets: PORT, HOST, DATABASE_URL, libpq's PG* variables (PGAPPNAME names the release
    unless the service sets its own application_name), REHEARSE_VERSION, then the env of the plan and of the
    release, placeholders expanded: a plan release's env over service.env; a package release's env (its
    manifest's) under service.env, which adapts the package to this rehearsal."""
    values = placeholders(plan, release, database, port=str(port))
    if python is not None:
        values["python"] = python
    env = {"PORT": str(port), "HOST": host, **database.libpq_env(f"{plan.scenario}-{release.version}"),
           "REHEARSE_VERSION": release.version}
    layered = release.env | plan.service_env if release.package is not None else plan.service_env | release.env
    return env | {key: expand(value, values) for key, value in layered.items()}


def release_log(run_dir: Path, release: Release, start_index: int) -> Path:
    return run_dir / "logs" / f"service-{release.version}-{start_index}.log"
