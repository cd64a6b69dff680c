"""Products with full-text search, plus the chassis tables (idempotency keys, outbox).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from chassis.migrations import create_chassis_tables, drop_chassis_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("price_currency", sa.Text, nullable=False),
        sa.Column("price_minor", sa.BigInteger, nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("weight_grams", sa.Integer, nullable=False),
        sa.Column("image_url", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "search",
            postgresql.TSVECTOR,
            sa.Computed(
                "setweight(to_tsvector('english', name), 'A') || "
                "setweight(to_tsvector('english', description), 'B')",
                persisted=True,
            ),
        ),
        sa.CheckConstraint("price_minor >= 0", name="products_price_minor_not_negative"),
        sa.CheckConstraint("version > 0", name="products_version_positive"),
    )
    op.create_index("products_search_idx", "products", ["search"], postgresql_using="gin")
    op.create_index("products_categories_idx", "products", ["categories"], postgresql_using="gin")
    create_chassis_tables(op)


def downgrade() -> None:
    drop_chassis_tables(op)
    op.drop_table("products")
