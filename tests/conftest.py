"""Shared fixtures: a real PostgreSQL server (the harness's own embedded environment) per test session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.core.database import Database
from harness.environments.local_postgres import LocalPostgres

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Database]:
    """A throwaway PostgreSQL cluster on loopback, torn down at the end of the session."""
    logs = Path(tempfile.mkdtemp(prefix="rehearse-test-logs-"))
    server = LocalPostgres(logs, None, "harness_tests", dict(os.environ))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture()
def database(pg_server: Database, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh empty database on the session server, dropped after the test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    admin = pg_server.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield Database(pg_server.host, pg_server.port, pg_server.user, pg_server.password, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
