"""The transactional outbox: a domain event is written in the same transaction as the
state change it records, inside the envelope every consumer expects. A relay publishes
the rows to JetStream later and marks them published."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor
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
    bindparam,
    func,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import SchemaItem

from chassis import context
from chassis.db import Query, execute, execute_many
from shop.common.v1 import event_pb2

TABLE_NAME = "outbox"
NOTIFY_CHANNEL = "outbox"  # the relay LISTENs; every write NOTIFYs with its commit


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
# Every command that emits runs these: compiled once, run on the driver (chassis.db.Query).
_WRITE = Query(
    _outbox.insert().values(
        id=bindparam("id"),
        subject=bindparam("subject"),
        type=bindparam("type"),
        aggregate=bindparam("aggregate"),
        envelope=bindparam("envelope"),
        created_at=func.clock_timestamp(),
    )
)
_WAKE_RELAY = Query(text(f"NOTIFY {NOTIFY_CHANNEL}"))


@dataclass(frozen=True)
class OutboxRow:
    """An event ready to be written: where it goes and the envelope that carries it."""

    subject: str
    aggregate: str
    envelope: event_pb2.EventEnvelope


def event_route(event_type: Descriptor) -> event_pb2.EventOptions:
    """The subject and collection the contract declares for an event message."""
    options = event_type.GetOptions()
    if not options.HasExtension(event_pb2.event):
        raise ValueError(f"{event_type.full_name} is not an event: it has no (event) option")
    route: event_pb2.EventOptions = options.Extensions[event_pb2.event]
    return route


def envelop(event: Message, aggregate_id: str, *, schema_version: int = 1) -> OutboxRow:
    """`event` about `<collection>/<aggregate_id>`, in the envelope every consumer expects:
    the current call's correlation id (a new one outside a call) and trace context."""
    route = event_route(event.DESCRIPTOR)  # type: ignore[arg-type]  # upb's Descriptor
    aggregate = f"{route.collection}/{aggregate_id}"
    trace_headers: dict[str, str] = {}
    propagate.inject(trace_headers)
    data = any_pb2.Any()
    data.Pack(event)
    time = timestamp_pb2.Timestamp()
    time.FromDatetime(datetime.now(UTC))
    envelope = event_pb2.EventEnvelope(
        id=str(uuid.uuid4()),
        source=f"//{context.service()}.shop.local",
        spec_version="1.0",
        type=event.DESCRIPTOR.full_name,
        subject=aggregate,
        time=time,
        schema_version=schema_version,
        correlation_id=context.correlation_id.get() or str(uuid.uuid4()),
        traceparent=trace_headers.get("traceparent", ""),
        tracestate=trace_headers.get("tracestate", ""),
        data=data,
    )
    return OutboxRow(route.subject, aggregate, envelope)


async def write(conn: AsyncConnection, rows: Sequence[OutboxRow]) -> None:
    """Writes the rows in the caller's transaction and wakes the relay when it commits.

    created_at is the clock when the row is written, not the transaction's start: writers of
    one aggregate are serialized by its lock, so this orders its events as they happened,
    and the relay publishes in that order."""
    if not rows:
        return
    await execute_many(
        conn,
        _WRITE,
        [
            {
                "id": row.envelope.id,
                "subject": row.subject,
                "type": row.envelope.type,
                "aggregate": row.aggregate,
                "envelope": row.envelope.SerializeToString(),
            }
            for row in rows
        ],
    )
    await execute(conn, _WAKE_RELAY, {})
