"""Shipping's tables, as SQLAlchemy Core. Migrations create them; this mirrors them."""

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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

metadata = MetaData()

STATUSES = "('PENDING', 'DISPATCHED', 'DELIVERED', 'CANCELLED')"

shipments = Table(
    "shipments",
    metadata,
    Column("shipment_id", Uuid(as_uuid=False), primary_key=True),
    Column("order_id", Uuid(as_uuid=False), nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("address_lines", ARRAY(Text), nullable=False),
    Column("locality", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("postal_code", Text, nullable=False),
    Column("country_code", Text, nullable=False),
    Column("service_level", Text, nullable=False),
    Column("carrier", Text, nullable=False),
    Column("tracking_number", Text, nullable=False, unique=True),
    Column("dispatch_due_at", DateTime(timezone=True), nullable=False),
    Column("cancel_reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    CheckConstraint(f"status IN {STATUSES}", name="shipments_status_known"),
    CheckConstraint("version > 0", name="shipments_version_positive"),
    # At most one live shipment per order, whatever the use cases do.
    Index(
        "shipments_one_live_per_order",
        "order_id",
        unique=True,
        postgresql_where=text("status <> 'CANCELLED'"),
    ),
    # What the dispatch timer looks for: PENDING shipments by due time.
    Index(
        "shipments_pending_by_due_time",
        "dispatch_due_at",
        postgresql_where=text("status = 'PENDING'"),
    ),
)

shipment_lines = Table(
    "shipment_lines",
    metadata,
    Column(
        "shipment_id",
        Uuid(as_uuid=False),
        ForeignKey("shipments.shipment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("sku", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="shipment_lines_quantity_positive"),
)
