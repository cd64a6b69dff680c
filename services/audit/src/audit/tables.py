"""Audit's tables, as SQLAlchemy Core. Migrations create them (and the triggers that keep
the log append-only); this mirrors them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
)

metadata = MetaData()

# The log: one row per event, never updated or deleted (triggers refuse it).
audit_records = Table(
    "audit_records",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    # The facts ListEvents filters on, copied out of `event` (VerifyChain checks they agree).
    Column("event_id", Uuid(as_uuid=False), nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("correlation_id", Text, nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("event", LargeBinary, nullable=False),  # the hashed bytes: the envelope, deterministic
    Column("stream", Text, nullable=False),
    Column("stream_sequence", BigInteger, nullable=False),
    Column("record_time", DateTime(timezone=True), nullable=False),
    Column("previous_hash", LargeBinary, nullable=False),
    Column("record_hash", LargeBinary, nullable=False),
    CheckConstraint("sequence > 0", name="audit_records_sequence_positive"),
    CheckConstraint("length(previous_hash) = 32", name="audit_records_previous_hash_sha256"),
    CheckConstraint("length(record_hash) = 32", name="audit_records_record_hash_sha256"),
    # ListEvents narrows by one of these, then pages in sequence order.
    Index("audit_records_subject_idx", "subject", "sequence"),
    Index("audit_records_type_idx", "event_type", "sequence"),
    Index("audit_records_correlation_idx", "correlation_id", "sequence"),
    Index("audit_records_time_idx", "event_time"),
)

# The end of the chain, one row: appends lock it, so concurrent consumers extend one chain;
# VerifyChain compares the log's tail with it, so removing the last records shows.
audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("sequence", BigInteger, nullable=False),
    Column("record_hash", LargeBinary, nullable=False),
    CheckConstraint("id = 1", name="audit_chain_head_single_row"),
)
