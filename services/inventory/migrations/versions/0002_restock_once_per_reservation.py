"""Restocks name their reservation: stock_adjustments.reservation_id is the CONFIRMED
reservation whose units an order's cancellation (OrderCancelled) put back on hand, and a
unique index keeps each of its lines from going back twice, whatever delivers the
cancellation again (a redrive, a replay under another consumer).

Expand only: a nullable column and an index; code of revision 0001 neither reads nor
writes the column, so both run side by side during a rollout.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "stock_adjustments", sa.Column("reservation_id", sa.Uuid(as_uuid=False), nullable=True)
    )
    op.create_foreign_key(
        "stock_adjustments_reservation_fk",
        "stock_adjustments",
        "reservations",
        ["reservation_id"],
        ["reservation_id"],
    )
    op.create_index(
        "stock_adjustments_restock_once",
        "stock_adjustments",
        ["reservation_id", "sku"],
        unique=True,
        postgresql_where=sa.text("reservation_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("stock_adjustments_restock_once", table_name="stock_adjustments")
    op.drop_constraint("stock_adjustments_reservation_fk", "stock_adjustments", type_="foreignkey")
    op.drop_column("stock_adjustments", "reservation_id")
