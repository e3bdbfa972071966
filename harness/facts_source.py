"""Where `rehearse lint` gets its table facts: a database given by DSN, a plan's seeded database, or a file.

- `--dsn URL`: read-only catalog and statistics queries on a loopback database (a tunnel reaches a remote
  one); `touched` is what the statistics counted since their last reset. The password is never shown.
- `--plan PLAN`: the plan's own seeded database, built the way a rehearsal builds it (a local environment's
  PostgreSQL with the plan's server settings, the from-version schema, the seed), read, then torn down;
  nothing says what the load touches.
- `--facts FILE`: a table_facts.json, or a run directory (a rehearsal writes streams/table_facts.json in its
  first phase, with what the load touched).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from harness.core.errors import EnvironmentFailure, InputError, MigrationError
from harness.core.postgres import CHECK_APPLICATION
from harness.core.processes import RUN_ID_ENV
from harness.core.streams import JsonLines
from harness.core.text import redact
from harness.environments.local_postgres import LocalPostgres
from harness.events import Events
from harness.lint.facts import Facts, load_facts, read_facts, touched_since_reset
from harness.plan import Plan
from harness.seed import seed
from harness.upgrade.migrate import Migrator

__all__ = ["facts_from_dsn", "facts_from_plan", "load_facts", "loopback_problem"]


def loopback_problem(dsn: str) -> str | None:
    """Why `dsn` is refused (it names a host that is not this machine's loopback), checked before connecting."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "not a PostgreSQL connection string (postgresql://user:password@127.0.0.1:5432/dbname)"
    hosts = [h for key in ("host", "hostaddr") for h in str(params.get(key) or "").split(",") if h]
    for host in hosts:
        if not (host == "localhost" or host.startswith("127.") or host == "::1" or host.startswith("/")):
            return f"host {host!r} is not loopback: lint reads only databases on this machine (tunnel it: ssh -L)"
    return None


def facts_from_dsn(dsn: str) -> Facts:
    """Facts of the database at `dsn` (loopback only); InputError for a refused DSN, EnvironmentFailure when
    it cannot be reached."""
    problem = loopback_problem(dsn)
    if problem is not None:
        raise InputError("--dsn", "", problem)
    params = conninfo_to_dict(dsn)
    shown = f"postgresql://{params.get('user') or ''}@{params.get('host') or 'localhost'}:" \
            f"{params.get('port') or 5432}/{params.get('dbname') or ''}"
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10, application_name=CHECK_APPLICATION) as conn:
            conn.execute("SET default_transaction_read_only = on")
            return touched_since_reset(read_facts(conn, f"database {shown}"), conn)
    except psycopg.Error as exc:
        message = " ".join(str(exc).split())
        raise EnvironmentFailure(f"cannot read table facts from {shown}: "
                                 f"{redact(message, _password(dsn))}") from None


def facts_from_plan(plan: Plan) -> Facts:
    """Facts of the plan's seeded from-version database, built in a throwaway local PostgreSQL."""
    scratch = Path(tempfile.mkdtemp(prefix="rehearse-lint-"))
    (scratch / "logs").mkdir()
    run_id = f"lint-{secrets.token_hex(3)}"
    server = LocalPostgres(scratch, plan.postgres_bin, plan.database, {**os.environ, RUN_ID_ENV: run_id},
                           label=run_id, settings=plan.server_settings)
    statements = JsonLines(scratch / "statements.jsonl")
    try:
        database = server.start()
        migrator = Migrator(plan, database, statements, scratch / "logs" / "migrations.log", run_id, Events(),
                            lambda message: None)
        try:
            migrator.apply(plan.setup_path(), phase="setup")
        except MigrationError as failure:
            raise EnvironmentFailure(f"building the {plan.from_version} schema for the table facts failed: "
                                     f"{failure}") from None
        seed(plan, database, scratch / "logs" / "seed.log", run_id)
        with psycopg.connect(database.dsn(), autocommit=True, application_name=CHECK_APPLICATION) as conn:
            conn.execute("ANALYZE")  # row estimates of freshly seeded tables
            return read_facts(conn, f"plan {plan.path} (seeded {plan.from_version} database, "
                              f"seed.rows = {plan.seed_rows})", tuple(plan.server_settings))
    finally:
        statements.close()
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def _password(dsn: str) -> str:
    try:
        return str(conninfo_to_dict(dsn).get("password") or "")
    except psycopg.ProgrammingError:
        return ""
