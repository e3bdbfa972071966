"""shop 2.0: orders.currency with a backfill, and an index, in Alembic's single upgrade transaction."""

import sqlalchemy as sa
from alembic import op

revision = "v2_0"
down_revision = "v1_0"


def upgrade() -> None:
    op.add_column("orders", sa.Column("currency", sa.Text(), nullable=True))
    op.execute("UPDATE orders SET currency = 'EUR'")
    op.alter_column("orders", "currency", server_default="EUR", nullable=False)
    op.create_index("orders_customer_created_idx", "orders", ["customer_id", "created_at"])


def downgrade() -> None:
    op.drop_index("orders_customer_created_idx", table_name="orders")
    op.drop_column("orders", "currency")
