"""notes 2.0, 3/3: an index for "recently edited notes of an account"."""

from alembic import op

revision = "r4"
down_revision = "r3"


def upgrade() -> None:
    op.execute("CREATE INDEX notes_account_updated_idx ON notes (account_id, updated_at)")


def downgrade() -> None:
    op.execute("DROP INDEX notes_account_updated_idx")
