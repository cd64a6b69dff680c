"""Cancellation outcomes on the order, the queued cancel on the saga, and the order
history projection (seeded from the orders already stored).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    false = sa.text("false")
    added = {
        "orders": [
            sa.Column("payment_undone", sa.Integer, nullable=False, server_default="0"),
            sa.Column("refunded_minor", sa.BigInteger, nullable=False, server_default="0"),
            sa.Column("stock_returned", sa.Boolean, nullable=False, server_default=false),
            sa.Column("shipment_cancelled", sa.Boolean, nullable=False, server_default=false),
        ],
        "sagas": [
            sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=false),
            sa.Column("cancel_reason", sa.Text, nullable=False, server_default=""),
        ],
    }
    for table, columns in added.items():
        for column in columns:
            op.add_column(table, column)
    op.create_table(
        "order_history",
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text),
        sa.Column("order_version", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("total_currency", sa.Text),
        sa.Column("total_minor", sa.BigInteger),
        sa.Column("lines", JSONB),
        sa.Column("address", JSONB),
        sa.Column("speed", sa.Integer),
        sa.Column("rejection_reason", sa.Integer),
        sa.Column("cancel_reason", sa.Text, nullable=False),
        sa.Column("payment_id", sa.Text, nullable=False),
        sa.Column("payment_status", sa.Integer, nullable=False),
        sa.Column("shipment_id", sa.Text, nullable=False),
        sa.Column("delivery_status", sa.Integer, nullable=False),
        sa.Column("carrier", sa.Text, nullable=False),
        sa.Column("tracking_number", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "order_history_customer_idx",
        "order_history",
        ["customer_id", sa.text("created_at DESC"), sa.text("order_id DESC")],
    )
    op.create_index(
        "order_history_created_idx",
        "order_history",
        [sa.text("created_at DESC"), sa.text("order_id DESC")],
    )
    # The orders stored before the projection existed: their events were consumed by
    # nobody here, so the history starts from the orders table (events newer than a row's
    # version still apply; older ones change nothing).
    op.execute(
        """
        INSERT INTO order_history
        SELECT o.order_id, o.customer_id, o.version, o.status,
               o.shipping_currency,
               o.shipping_minor + (SELECT COALESCE(SUM((l->'unit_price'->>'minor')::bigint
                                                       * (l->>'quantity')::bigint), 0)
                                   FROM jsonb_array_elements(o.lines) AS l),
               o.lines, o.address, o.speed, o.rejection_reason, o.cancel_reason,
               o.payment_id, CASE WHEN o.status = 2 THEN 1 ELSE 0 END,
               o.shipment_id, CASE WHEN o.status = 2 THEN 1 ELSE 0 END, '', '',
               o.created_at, o.updated_at
        FROM orders o
        """
    )


def downgrade() -> None:
    op.drop_table("order_history")
    op.drop_column("sagas", "cancel_reason")
    op.drop_column("sagas", "cancel_requested")
    for column in ("shipment_cancelled", "stock_returned", "refunded_minor", "payment_undone"):
        op.drop_column("orders", column)
