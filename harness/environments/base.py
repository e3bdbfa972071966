"""What every environment provides: a database, and a service that can be started and stopped by version."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

from harness.core.database import Database
from harness.core.text import expand
from harness.plan import Plan, Release, placeholders


class Environment(Protocol):
    """A place to rehearse in. Each verb blocks until done; `close` always tears everything down."""

    name: str

    def start_database(self) -> Database:
        """Start PostgreSQL, create the plan's database, and return how to reach it from this host."""

    def start_service(self, release: Release) -> str:
        """Start the service at `release` and return its base URL (same URL for every release)."""

    def service_failure(self) -> str | None:
        """Why the service is not running (exit code, last log lines), or None while it runs."""

    def stop_service(self) -> None:
        """Stop the running service, waiting for it to exit."""

    def start_other(self, release: Release) -> str:
        """Start a second instance, at `release`, beside the running one (its own port); returns its URL."""

    def other_failure(self) -> str | None:
        """Why the instance beside the service is not running, or None while it runs."""

    def stop_other(self) -> None:
        """Stop the instance beside the service (nothing when there is none)."""

    def service_environ(self) -> dict[str, str] | None:
        """The running service's process environment as it really is (None when it cannot be read)."""

    def close(self) -> None:
        """Stop everything this environment started and remove what it created."""


def service_environment(plan: Plan, release: Release, port: int, host: str, dsn: str,
                        python: str = sys.executable) -> dict[str, str]:
    """What every service gets: PORT, HOST, DATABASE_URL, REHEARSE_VERSION, the release's own environment (a
    package manifest's service.env), and the plan's service.env over it."""
    values = placeholders(plan, release, python=python, port=str(port), dsn=dsn)
    env = {"PORT": str(port), "HOST": host, "DATABASE_URL": dsn, "REHEARSE_VERSION": release.version}
    return env | {key: expand(value, values) for key, value in (release.env | plan.service_env).items()}


OTHER_START_INDEX = 100  # logs of instances started beside the service are numbered from 101


def release_log(run_dir: Path, release: Release, start_index: int) -> Path:
    return run_dir / "logs" / f"service-{release.version}-{start_index}.log"
