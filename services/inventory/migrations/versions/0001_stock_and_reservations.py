"""Stock levels, their adjustment history, reservations and their lines, plus the chassis
tables (idempotency keys, outbox).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from chassis.migrations import create_chassis_tables, drop_chassis_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_levels",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("on_hand", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("low_stock_threshold", sa.Integer),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "0 <= reserved AND reserved <= on_hand", name="stock_levels_reserved_held"
        ),
        sa.CheckConstraint("low_stock_threshold >= 0", name="stock_levels_threshold_not_negative"),
        sa.CheckConstraint("version > 0", name="stock_levels_version_positive"),
    )
    op.create_table(
        "stock_adjustments",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("sku", sa.Text, sa.ForeignKey("stock_levels.sku"), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("on_hand_after", sa.Integer, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("stock_adjustments_sku_idx", "stock_adjustments", ["sku", "version"])
    op.create_table(
        "reservations",
        sa.Column("reservation_id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("order_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "status IN ('PENDING', 'CONFIRMED', 'RELEASED', 'EXPIRED')",
            name="reservations_status_known",
        ),
        sa.CheckConstraint("version > 0", name="reservations_version_positive"),
    )
    op.create_index(
        "reservations_pending_expiry_idx",
        "reservations",
        ["expire_time"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "reservation_lines",
        sa.Column(
            "reservation_id",
            sa.Uuid(as_uuid=False),
            sa.ForeignKey("reservations.reservation_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sku", sa.Text, sa.ForeignKey("stock_levels.sku"), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="reservation_lines_quantity_positive"),
    )
    create_chassis_tables(op)


def downgrade() -> None:
    drop_chassis_tables(op)
    op.drop_table("reservation_lines")
    op.drop_table("reservations")
    op.drop_table("stock_adjustments")
    op.drop_table("stock_levels")
