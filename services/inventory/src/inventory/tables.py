"""Inventory's tables, as SQLAlchemy Core. Migrations create them; this mirrors them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    text,
)

metadata = MetaData()

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("low_stock_threshold", Integer),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The last line of defence against overselling, whatever the code does.
    CheckConstraint("0 <= reserved AND reserved <= on_hand", name="stock_levels_reserved_held"),
    CheckConstraint("low_stock_threshold >= 0", name="stock_levels_threshold_not_negative"),
    CheckConstraint("version > 0", name="stock_levels_version_positive"),
)

# Every adjustment with its reason: the history that explains a SKU's on_hand.
stock_adjustments = Table(
    "stock_adjustments",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("sku", Text, ForeignKey("stock_levels.sku"), nullable=False),
    Column("delta", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("on_hand_after", Integer, nullable=False),
    Column("version", BigInteger, nullable=False),  # the stock level's version it made
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # A restock's confirmed reservation (its order was cancelled); NULL for other adjustments.
    Column(
        "reservation_id",
        Uuid(as_uuid=False),
        ForeignKey("reservations.reservation_id", name="stock_adjustments_reservation_fk"),
    ),
    Index("stock_adjustments_sku_idx", "sku", "version"),
    # A reservation's line goes back on hand once, whatever delivers the cancellation again.
    Index(
        "stock_adjustments_restock_once",
        "reservation_id",
        "sku",
        unique=True,
        postgresql_where=text("reservation_id IS NOT NULL"),
    ),
)

reservations = Table(
    "reservations",
    metadata,
    Column("reservation_id", Uuid(as_uuid=False), primary_key=True),
    Column("order_id", Uuid(as_uuid=False), nullable=False),
    Column("status", Text, nullable=False),
    Column("expire_time", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    CheckConstraint(
        "status IN ('PENDING', 'CONFIRMED', 'RELEASED', 'EXPIRED')",
        name="reservations_status_known",
    ),
    CheckConstraint("version > 0", name="reservations_version_positive"),
    # What the expiry sweeper reads: the pending reservations, soonest expiry first.
    Index(
        "reservations_pending_expiry_idx",
        "expire_time",
        postgresql_where=text("status = 'PENDING'"),
    ),
)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column(
        "reservation_id",
        Uuid(as_uuid=False),
        ForeignKey("reservations.reservation_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("sku", Text, ForeignKey("stock_levels.sku"), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("position", Integer, nullable=False),  # the line's place in the request
    CheckConstraint("quantity > 0", name="reservation_lines_quantity_positive"),
)
