"""Alembic environment of the notes app: the database comes from libpq's PG* variables (PGHOST, PGPORT, PGUSER,
PGPASSWORD, PGDATABASE), as the team's deploy scripts set them; offline (--sql) it prints the SQL instead.

Every revision of one `alembic upgrade` runs in one transaction (transaction_per_migration is off, Alembic's
default): an upgrade from 1.0 to 2.0 applies r2, r3 and r4 together.
"""

from alembic import context
from sqlalchemy import create_engine

URL = "postgresql+psycopg://"  # no host, user or password here: libpq reads them from the environment
if context.is_offline_mode():
    context.configure(url=URL, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
else:
    with create_engine(URL).connect() as connection:
        context.configure(connection=connection, transaction_per_migration=False)
        with context.begin_transaction():
            context.run_migrations()
