"""notes 1.0: accounts and their notes; the extensions production has."""

from alembic import op

revision = "r1"
down_revision = None


def upgrade() -> None:
    op.execute('CREATE EXTENSION IF NOT EXISTS pgcrypto')
    op.execute('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')
    op.execute("""
        CREATE TABLE accounts (
            id serial PRIMARY KEY,
            email text NOT NULL UNIQUE,
            password_hash text NOT NULL,
            notes_count integer NOT NULL DEFAULT 0,
            last_login timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("""
        CREATE TABLE notes (
            id serial PRIMARY KEY,
            slug text NOT NULL UNIQUE,
            account_id integer NOT NULL REFERENCES accounts (id),
            title varchar(100) NOT NULL,
            body text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX notes_account_id_idx ON notes (account_id)")


def downgrade() -> None:
    op.execute("DROP TABLE notes")
    op.execute("DROP TABLE accounts")
