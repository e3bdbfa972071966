"""The lint tests' server: a database of its own on the session's PostgreSQL (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from harness.core.database import Database


@pytest.fixture(scope="session")
def lint_pg_dsn(pg_server: Database) -> Iterator[str]:
    """DSN of an empty database reserved for the lint tests."""
    admin = pg_server.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS lint")
        conn.execute("CREATE DATABASE lint")
    yield pg_server.dsn("lint")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS lint WITH (FORCE)")
