"""Orders' tables, as SQLAlchemy Core. Migrations create them; this mirrors them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("shipping_currency", Text, nullable=False),
    Column("shipping_minor", BigInteger, nullable=False),
    Column("address", JSONB, nullable=False),
    Column("speed", Integer, nullable=False),
    Column("rejection_reason", Integer),
    Column("rejection_detail", Text, nullable=False),
    Column("payment_id", Text, nullable=False),
    Column("reservation_id", Text, nullable=False),
    Column("shipment_id", Text, nullable=False),
    Column("cancel_reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    # the cancellation's outcomes, as payments, inventory and shipping report them
    Column("payment_undone", Integer, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False),
    Column("stock_returned", Boolean, nullable=False),
    Column("shipment_cancelled", Boolean, nullable=False),
    Index("orders_customer_idx", "customer_id", text("created_at DESC"), text("order_id DESC")),
    Index("orders_created_idx", text("created_at DESC"), text("order_id DESC")),
)

# One saga per order (saga id = order id); steps as JSON, in the order first called.
sagas = Table(
    "sagas",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("phase", Text, nullable=False),
    Column("steps", JSONB, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("next_run_at", DateTime(timezone=True), nullable=False),
    Column("payment_token", Text, nullable=False),
    Column("rejection", Integer),
    Column("detail", Text, nullable=False),
    Column("failed_step", Integer),
    Column("lease", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("cancel_requested", Boolean, nullable=False),
    Column("cancel_reason", Text, nullable=False),
    Index(
        "sagas_runnable_idx",
        "next_run_at",
        postgresql_where=text("phase IN ('FORWARD', 'COMPENSATING')"),
    ),
)

# The read model of catalog prices (from ProductUpserted / PriceChanged).
catalog_prices = Table(
    "catalog_prices",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("minor", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
)

# The order history (ListOrders): one row per order, built from orders', payments' and
# shipping's events in whatever order they arrive. What an order event says applies only
# if its version is newer (order_version); what never changes (customer, lines, total,
# address) is kept from whichever event brought it first; payment and delivery status
# only move forward (their numbers grow with their life). A row that no order event has
# reached yet has no customer and is not listed.
order_history = Table(
    "order_history",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("customer_id", Text),
    Column("order_version", BigInteger, nullable=False),
    Column("status", Integer, nullable=False),
    Column("total_currency", Text),
    Column("total_minor", BigInteger),
    Column("lines", JSONB),
    Column("address", JSONB),
    Column("speed", Integer),
    Column("rejection_reason", Integer),
    Column("cancel_reason", Text, nullable=False),
    Column("payment_id", Text, nullable=False),
    Column("payment_status", Integer, nullable=False),
    Column("shipment_id", Text, nullable=False),
    Column("delivery_status", Integer, nullable=False),
    Column("carrier", Text, nullable=False),
    Column("tracking_number", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(
        "order_history_customer_idx",
        "customer_id",
        text("created_at DESC"),
        text("order_id DESC"),
    ),
    Index("order_history_created_idx", text("created_at DESC"), text("order_id DESC")),
)
