"""What migration tools and database drivers run besides a migration's own statements.

Their bookkeeping tables (the tool records which revisions are applied), and the statements drivers send on
their own (version checks, SHOW, SET, savepoints, catalog reflection): reports collapse them, the lint does
not flag them.
"""

from __future__ import annotations

import re

BOOKKEEPING_TABLES = frozenset({
    "alembic_version",  # Alembic
    "flyway_schema_history",  # Flyway
    "schema_migrations",  # Rails, golang-migrate, dbmate, sqlx (_sqlx_migrations)
    "_sqlx_migrations",
    "django_migrations",  # Django
    "knex_migrations", "knex_migrations_lock",  # Knex
    "goose_db_version",  # goose
    "databasechangelog", "databasechangeloglock",  # Liquibase
    "__efmigrationshistory",  # Entity Framework
    "schema_version",  # older Flyway, Sequel
    "pgmigrations",  # node-pg-migrate
})
_CHATTER = re.compile(
    r"^(select (pg_catalog\.)?version\(\)|select current_schema\(\)|select current_database\(\)|select 1\b|"
    r"show |set |reset |discard |savepoint |release( savepoint)? |rollback to( savepoint)? |begin\b|"
    r"start transaction\b|rollback$|select [^;]* from pg_catalog\.|select [^;]* from information_schema\.|"
    r"select [^;]* from pg_(type|class|namespace|attribute|index|constraint|proc|enum|range|settings)\b)", re.I)
_TABLES = re.compile(r"\b(?:from|into|update|table(?: if not exists)?|join)\s+(?:\"?\w+\"?\.)?\"?(\w+)\"?", re.I)


def tables_named(sql: str) -> set[str]:
    """The tables `sql` names (FROM, INTO, UPDATE, TABLE, JOIN), lower case, without their schema."""
    return {name.lower() for name in _TABLES.findall(sql)}


def is_bookkeeping(sql: str) -> bool:
    """Whether `sql` only touches a migration tool's bookkeeping table (UPDATE alembic_version ...)."""
    tables = tables_named(sql)
    return bool(tables) and tables <= BOOKKEEPING_TABLES


def is_chatter(sql: str) -> bool:
    """A driver's or tool's own statement: version checks, SHOW / SET, savepoints, catalog reflection, BEGIN,
    or the tool's bookkeeping."""
    text = " ".join(sql.split())
    return bool(_CHATTER.match(text)) or is_bookkeeping(text)
