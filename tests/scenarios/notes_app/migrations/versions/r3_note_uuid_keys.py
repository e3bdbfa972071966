"""notes 2.0, 2/3: notes get uuid keys (public links no longer enumerate notes); the serial ids go.

The new column's volatile default rewrites the table under ACCESS EXCLUSIVE. The downgrade numbers the notes
again: their keys after a rollback are not the ones they had.
"""

from alembic import op

revision = "r3"
down_revision = "r2"


def upgrade() -> None:
    op.execute("ALTER TABLE notes ADD COLUMN uid uuid NOT NULL DEFAULT uuid_generate_v4()")
    op.execute("ALTER TABLE notes DROP CONSTRAINT notes_pkey")
    op.execute("ALTER TABLE notes DROP COLUMN id")
    op.execute("ALTER TABLE notes RENAME COLUMN uid TO id")
    op.execute("ALTER TABLE notes ADD PRIMARY KEY (id)")


def downgrade() -> None:
    op.execute("ALTER TABLE notes DROP CONSTRAINT notes_pkey")
    op.execute("ALTER TABLE notes RENAME COLUMN id TO uid")
    op.execute("ALTER TABLE notes ADD COLUMN id serial")
    op.execute("ALTER TABLE notes DROP COLUMN uid")
    op.execute("ALTER TABLE notes ADD PRIMARY KEY (id)")
