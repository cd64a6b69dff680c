"""The outbox as the events it holds, decoded from their envelopes by their contract type."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message
from sqlalchemy import text

from chassis.db import Database
from shop.common.v1.event_pb2 import EventEnvelope


@dataclass(frozen=True)
class OutboxEvent:
    subject: str  # where it is published, e.g. "catalog.product.upserted"
    envelope: EventEnvelope
    data: Message


async def outbox_events(db: Database, *, aggregate: str = "") -> list[OutboxEvent]:
    """The events in the outbox (about `aggregate`, e.g. "products/SKU-1", when given), in
    the order they were written."""
    query = "SELECT subject, envelope FROM outbox WHERE :aggregate IN ('', aggregate)"
    async with db.transaction() as conn:
        rows = await conn.execute(text(query + " ORDER BY created_at"), {"aggregate": aggregate})
        found = rows.all()
    return [_decoded(subject, EventEnvelope.FromString(raw)) for subject, raw in found]


def _decoded(subject: str, envelope: EventEnvelope) -> OutboxEvent:
    kind = descriptor_pool.Default().FindMessageTypeByName(envelope.type)
    data = message_factory.GetMessageClass(kind)()
    if not envelope.data.Unpack(data):
        raise AssertionError(f"event {envelope.id}: data is not a {envelope.type}")
    return OutboxEvent(subject, envelope, data)
