"""add_event(): the event is written, in its envelope, in the caller's transaction."""

import asyncio

import protovalidate
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from sqlalchemy import text

from chassis import context
from chassis.db import Database
from chassis.outbox import add_event
from shop.catalog.v1 import events_pb2, product_pb2
from shop.common.v1 import event_pb2

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7


class Boom(Exception):
    pass


def test_an_event_is_stored_in_a_valid_envelope_carrying_the_call_context(
    chassis_db: str,
) -> None:
    context.set_service("catalog")
    event = events_pb2.ProductUpserted(product=product_pb2.Product(sku="SKU-1"), created=True)
    span = NonRecordingSpan(SpanContext(TRACE_ID, SPAN_ID, False, TraceFlags(1)))

    async def scenario() -> tuple[str, list[tuple[object, ...]]]:
        context.correlation_id.set("op-5")
        db = Database(chassis_db)
        try:
            with trace.use_span(span):
                async with db.transaction() as conn:
                    event_id = await add_event(
                        conn,
                        subject="catalog.product.upserted",
                        aggregate="products/SKU-1",
                        event=event,
                    )
            async with db.transaction() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT id::text, subject, type, aggregate, envelope, published_at"
                        " FROM outbox"
                    )
                )
                return event_id, [tuple(row) for row in rows]
        finally:
            await db.dispose()

    event_id, rows = asyncio.run(scenario())

    assert len(rows) == 1
    row_id, subject, event_type, aggregate, envelope_bytes, published_at = rows[0]
    assert (row_id, subject, event_type, aggregate, published_at) == (
        event_id,
        "catalog.product.upserted",
        "shop.catalog.v1.ProductUpserted",
        "products/SKU-1",
        None,
    )
    assert isinstance(envelope_bytes, bytes)
    envelope = event_pb2.EventEnvelope.FromString(envelope_bytes)
    assert protovalidate.collect_violations(envelope) == []
    assert envelope.id == event_id
    assert envelope.source == "//catalog.shop.local"
    assert envelope.type == "shop.catalog.v1.ProductUpserted"
    assert envelope.subject == "products/SKU-1"
    assert envelope.schema_version == 1
    assert envelope.correlation_id == "op-5"
    assert envelope.traceparent == f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"
    unpacked = events_pb2.ProductUpserted()
    assert envelope.data.Unpack(unpacked)
    assert unpacked == event


async def add_event_then_fail(db: Database) -> None:
    async with db.transaction() as conn:
        await add_event(
            conn,
            subject="catalog.product.upserted",
            aggregate="products/SKU-1",
            event=events_pb2.ProductUpserted(),
        )
        raise Boom


def test_an_event_is_not_stored_when_its_transaction_rolls_back(chassis_db: str) -> None:
    context.set_service("catalog")

    async def scenario() -> int | None:
        db = Database(chassis_db)
        try:
            with pytest.raises(Boom):
                await add_event_then_fail(db)
            async with db.transaction() as conn:
                count: int | None = await conn.scalar(text("SELECT count(*) FROM outbox"))
                return count
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == 0
