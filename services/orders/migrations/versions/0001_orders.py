"""Orders, their sagas, the catalog price read model, plus the chassis tables.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from chassis.migrations import create_chassis_tables, drop_chassis_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("lines", JSONB, nullable=False),
        sa.Column("shipping_currency", sa.Text, nullable=False),
        sa.Column("shipping_minor", sa.BigInteger, nullable=False),
        sa.Column("address", JSONB, nullable=False),
        sa.Column("speed", sa.Integer, nullable=False),
        sa.Column("rejection_reason", sa.Integer),
        sa.Column("rejection_detail", sa.Text, nullable=False),
        sa.Column("payment_id", sa.Text, nullable=False),
        sa.Column("reservation_id", sa.Text, nullable=False),
        sa.Column("shipment_id", sa.Text, nullable=False),
        sa.Column("cancel_reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint("version > 0", name="orders_version_positive"),
    )
    op.create_index(
        "orders_customer_idx",
        "orders",
        ["customer_id", sa.text("created_at DESC"), sa.text("order_id DESC")],
    )
    op.create_index(
        "orders_created_idx", "orders", [sa.text("created_at DESC"), sa.text("order_id DESC")]
    )
    op.create_table(
        "sagas",
        sa.Column(
            "order_id",
            sa.Text,
            sa.ForeignKey("orders.order_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column("steps", JSONB, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payment_token", sa.Text, nullable=False),
        sa.Column("rejection", sa.Integer),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("failed_step", sa.Integer),
        sa.Column("lease", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
    )
    op.create_index(
        "sagas_runnable_idx",
        "sagas",
        ["next_run_at"],
        postgresql_where=sa.text("phase IN ('FORWARD', 'COMPENSATING')"),
    )
    op.create_table(
        "catalog_prices",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("minor", sa.BigInteger, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    create_chassis_tables(op)


def downgrade() -> None:
    drop_chassis_tables(op)
    op.drop_table("catalog_prices")
    op.drop_table("sagas")
    op.drop_table("orders")
