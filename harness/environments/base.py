"""What every environment provides: a database, and a service that can be started and stopped by version."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from harness.plan import Plan, Release


@dataclass(frozen=True)
class Database:
    """Connection facts of the database under test; `password` never goes to logs or reports."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    def dsn(self, dbname: str | None = None) -> str:
        return (f"postgresql://{quote(self.user)}:{quote(self.password)}@{self.host}:{self.port}/"
                f"{dbname or self.dbname}")

    def libpq_env(self, application_name: str | None = None) -> dict[str, str]:
        """PG* variables for tools that read libpq's environment (psql, alembic via DATABASE_URL, ...)."""
        env = {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
               "PGPASSWORD": self.password, "PGDATABASE": self.dbname, "DATABASE_URL": self.dsn()}
        if application_name:
            env["PGAPPNAME"] = application_name
        return env


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

    def close(self) -> None:
        """Stop everything this environment started and remove what it created."""


def expand(template: str, values: dict[str, str]) -> str:
    """Fill {placeholders} that `values` knows; leave any other braces alone."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def placeholders(plan: Plan, release: Release | None = None, **extra: str) -> dict[str, str]:
    """The values that commands and env entries of a plan may refer to."""
    values = {"python": sys.executable, "rows": str(plan.seed_rows), "scenario_dir": str(plan.dir)}
    if release is not None:
        values |= {"release_dir": str(release.dir), "version": release.version}
    return values | extra


def service_environment(plan: Plan, release: Release, port: int, host: str, dsn: str,
                        python: str = sys.executable) -> dict[str, str]:
    """What every service gets: PORT, HOST, DATABASE_URL, REHEARSE_VERSION, and the plan's service.env."""
    values = placeholders(plan, release, python=python, port=str(port), dsn=dsn)
    env = {"PORT": str(port), "HOST": host, "DATABASE_URL": dsn, "REHEARSE_VERSION": release.version}
    return env | {key: expand(value, values) for key, value in plan.service_env.items()}


def redact(text: str, *secrets: str) -> str:
    """`text` with every secret replaced, for logs and error messages."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def release_log(run_dir: Path, release: Release, start_index: int) -> Path:
    return run_dir / "logs" / f"service-{release.version}-{start_index}.log"
