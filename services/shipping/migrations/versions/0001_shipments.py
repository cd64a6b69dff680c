"""Shipments and their lines, plus the chassis tables (idempotency keys, outbox).

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
        "shipments",
        sa.Column("shipment_id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("order_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("address_lines", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("locality", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("postal_code", sa.Text, nullable=False),
        sa.Column("country_code", sa.Text, nullable=False),
        sa.Column("service_level", sa.Text, nullable=False),
        sa.Column("carrier", sa.Text, nullable=False),
        sa.Column("tracking_number", sa.Text, nullable=False),
        sa.Column("dispatch_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancel_reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "status IN ('PENDING', 'DISPATCHED', 'DELIVERED', 'CANCELLED')",
            name="shipments_status_known",
        ),
        sa.CheckConstraint("version > 0", name="shipments_version_positive"),
        sa.UniqueConstraint("tracking_number", name="shipments_tracking_number_key"),
    )
    op.create_index(
        "shipments_one_live_per_order",
        "shipments",
        ["order_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'CANCELLED'"),
    )
    op.create_index(
        "shipments_pending_by_due_time",
        "shipments",
        ["dispatch_due_at"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "shipment_lines",
        sa.Column(
            "shipment_id",
            sa.Uuid(as_uuid=False),
            sa.ForeignKey("shipments.shipment_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="shipment_lines_quantity_positive"),
    )
    create_chassis_tables(op)


def downgrade() -> None:
    drop_chassis_tables(op)
    op.drop_table("shipment_lines")
    op.drop_table("shipments")
