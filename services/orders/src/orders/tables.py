"""Orders' tables, as SQLAlchemy Core. Migrations create them; this mirrors them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, Table, Text, text
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
