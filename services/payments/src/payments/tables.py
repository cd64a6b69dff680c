"""The payments tables, as SQLAlchemy Core. Migrations create them; this mirrors them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
)

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("payment_id", Uuid(as_uuid=False), primary_key=True),
    Column("order_id", Text, nullable=False),  # another context's id: kept as it was given
    Column("customer_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("authorized_minor", BigInteger, nullable=False),
    Column("captured_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False),
    Column("decline_reason", Text),
    Column("processor_reference", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    CheckConstraint("authorized_minor > 0", name="payments_authorized_positive"),
    CheckConstraint(
        "0 <= refunded_minor AND refunded_minor <= captured_minor"
        " AND captured_minor <= authorized_minor",
        name="payments_refunded_within_captured_within_authorized",
    ),
    CheckConstraint("version > 0", name="payments_version_positive"),
    Index("payments_order_id_idx", "order_id"),
)

# Append-only: one row per account and movement, a movement being one payment version's
# transition. The migration adds what Core cannot say: a deferred trigger that refuses to
# commit a movement whose entries do not sum to zero, and one that refuses updates and
# deletes.
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("payment_id", Uuid(as_uuid=False), ForeignKey("payments.payment_id"), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("account", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),  # debit positive, credit negative
    Column("posted_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("payment_id", "version", "account", name="ledger_entries_pkey"),
    CheckConstraint("amount_minor <> 0", name="ledger_entries_amount_not_zero"),
)
