"""notes 2.0, 1/3: remember each password's hashing scheme (2.0 rehashes old ones with bcrypt on login)."""

from alembic import op

revision = "r2"
down_revision = "r1"


def upgrade() -> None:
    op.execute("ALTER TABLE accounts ADD COLUMN password_algo text NOT NULL DEFAULT 'sha256'")


def downgrade() -> None:
    op.execute("ALTER TABLE accounts DROP COLUMN password_algo")
