"""Notifications' tables, as SQLAlchemy Core. Migrations create them; this mirrors them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

metadata = MetaData()

notifications = Table(
    "notifications",
    metadata,
    Column("notification_id", UUID(as_uuid=False), primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("cause_event_id", UUID(as_uuid=False), nullable=False),
    Column("order_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("failure", Text, nullable=False),
    # One message per fact, customer and channel, whatever replays the fact.
    UniqueConstraint("cause_event_id", "customer_id", "channel", name="notifications_once"),
    Index("notifications_by_customer", "customer_id", "created_at", "notification_id"),
    Index(
        "notifications_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
)

preferences = Table(
    "preferences",
    metadata,
    Column("customer_id", Text, primary_key=True),
    Column("email_enabled", Boolean, nullable=False),
    Column("sms_enabled", Boolean, nullable=False),
    Column("email", Text, nullable=False),
    Column("phone_e164", Text, nullable=False),
    Column("muted_topics", ARRAY(Text), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Who ordered which product (from OrderPlaced): the audience of a product's stock alerts.
purchases = Table(
    "purchases",
    metadata,
    Column("sku", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    PrimaryKeyConstraint("sku", "customer_id", name="purchases_pkey"),
)
