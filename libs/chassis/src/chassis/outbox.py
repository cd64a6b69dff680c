"""The transactional outbox: a domain event is written in the same transaction as the
state change it records, inside the envelope every consumer expects. A relay publishes
the rows to JetStream later and marks them published."""

import uuid
from datetime import UTC, datetime

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message
from opentelemetry import propagate
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import SchemaItem

from chassis import context
from shop.common.v1 import event_pb2

TABLE_NAME = "outbox"


def outbox_schema() -> list[SchemaItem]:
    """Fresh columns and indexes of the outbox table (for Table() and op.create_table())."""
    return [
        Column("id", Uuid(as_uuid=False), primary_key=True),
        Column("subject", Text, nullable=False),  # the NATS subject, e.g. catalog.product.upserted
        Column("type", Text, nullable=False),
        Column("aggregate", Text, nullable=False),
        Column("envelope", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        # What the relay reads: the unpublished rows, oldest first.
        Index("ix_outbox_unpublished", "created_at", postgresql_where=text("published_at IS NULL")),
    ]


def outbox_table(metadata: MetaData) -> Table:
    """The `outbox` table, for a service's tables module."""
    return Table(TABLE_NAME, metadata, *outbox_schema())


_outbox = outbox_table(MetaData())


async def add_event(
    conn: AsyncConnection,
    *,
    subject: str,
    aggregate: str,
    event: Message,
    schema_version: int = 1,
) -> str:
    """Writes `event` to the outbox in the caller's transaction and returns its id.

    `subject` is where it is published ("catalog.product.upserted"); `aggregate` is what it
    is about, "<collection>/<id>" ("products/SKU-1"). The envelope carries the current
    call's correlation id (a new one outside a call) and trace context.
    """
    trace_headers: dict[str, str] = {}
    propagate.inject(trace_headers)
    data = any_pb2.Any()
    data.Pack(event)
    time = timestamp_pb2.Timestamp()
    time.FromDatetime(datetime.now(UTC))
    event_type = event.DESCRIPTOR.full_name
    envelope = event_pb2.EventEnvelope(
        id=str(uuid.uuid4()),
        source=f"//{context.service()}.shop.local",
        spec_version="1.0",
        type=event_type,
        subject=aggregate,
        time=time,
        schema_version=schema_version,
        correlation_id=context.correlation_id.get() or str(uuid.uuid4()),
        traceparent=trace_headers.get("traceparent", ""),
        tracestate=trace_headers.get("tracestate", ""),
        data=data,
    )
    await conn.execute(
        _outbox.insert().values(
            id=envelope.id,
            subject=subject,
            type=event_type,
            aggregate=aggregate,
            envelope=envelope.SerializeToString(),
        )
    )
    return envelope.id
