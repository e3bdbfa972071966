"""shop 1.0 schema: the same tables as scenarios/shop/releases/1.0/migrations/001_schema.up.sql."""

from pathlib import Path

from alembic import op

revision = "v1_0"
down_revision = None

SHOP_1_0 = Path(__file__).resolve().parents[5] / "scenarios" / "shop" / "releases" / "1.0" / "migrations"


def upgrade() -> None:
    op.execute((SHOP_1_0 / "001_schema.up.sql").read_text())


def downgrade() -> None:
    op.execute((SHOP_1_0 / "001_schema.down.sql").read_text())
