"""notes 2.1: titles longer than 100 characters. Its downgrade cannot run once 2.1 has stored a longer title."""

from alembic import op

revision = "r5"
down_revision = "r4"


def upgrade() -> None:
    op.execute("ALTER TABLE notes ALTER COLUMN title TYPE text")


def downgrade() -> None:
    op.execute("ALTER TABLE notes ALTER COLUMN title TYPE varchar(100)")
