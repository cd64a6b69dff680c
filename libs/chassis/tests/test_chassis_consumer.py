"""Event consumers against a real NATS JetStream and a real PostgreSQL: one effect per event
however often it is delivered, poison messages and handlers that keep failing go to the
dead-letter stream with their reason while the consumer keeps going, and an outage of what
the handler needs is retried without dead-lettering anything."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import nats
import psycopg
import pytest
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext
from sqlalchemy import exc as sa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis import consumer, context
from chassis.consumer import DEAD_LETTER_STREAM, Delivery, EventConsumer, Subscription
from chassis.db import Database
from chassis.outbox import envelop
from chassis.testing.plugin import NatsServer, private_nats
from chassis.uow import SqlUnitOfWork
from shop.catalog.v1 import events_pb2
from shop.common.v1 import money_pb2

pytestmark = pytest.mark.anyio

WAIT_S = 30.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer, "RETRY_BASE_S", 0.01)
    monkeypatch.setattr(consumer, "OUTAGE_RETRY_S", (0.01, 0.05))


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    with private_nats() as server:
        yield server


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(nats_server.url)
    stream = client.jetstream()
    await stream.add_stream(StreamConfig(name="CATALOG", subjects=["catalog.>"]))
    await stream.add_stream(StreamConfig(name=DEAD_LETTER_STREAM, subjects=["deadletter.>"]))
    try:
        yield stream
    finally:
        await client.close()


class Prices:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record(self, sku: str, amount: int) -> None:
        await self.conn.execute(
            text("INSERT INTO prices VALUES (:sku, :amount)"), {"sku": sku, "amount": amount}
        )


@pytest.fixture
async def db(chassis_db: str) -> AsyncIterator[Database]:
    context.set_service("orders")
    database = Database(chassis_db)
    async with database.transaction() as conn:
        await conn.execute(text("CREATE TABLE prices (sku text, amount int)"))
    try:
        yield database
    finally:
        await database.dispose()


async def recorded(db: Database) -> list[tuple[str, int]]:
    async with db.transaction() as conn:
        rows = (await conn.execute(text("SELECT sku, amount FROM prices ORDER BY amount"))).all()
    return [(row[0], row[1]) for row in rows]


def price_changed(sku: str, amount: int) -> events_pb2.PriceChanged:
    return events_pb2.PriceChanged(
        sku=sku,
        old_price=money_pb2.Money(currency_code="EUR", amount_minor=1),
        new_price=money_pb2.Money(currency_code="EUR", amount_minor=amount),
        version=2,
    )


class PriceProjection:
    """A consumer's handler as services write them: the effect and the claim of the
    delivery's key in one unit of work. `failures` makes the next calls raise."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls = 0
        self.failures: list[Exception] = []

    async def handle(self, event: Message, delivery: Delivery) -> None:
        assert isinstance(event, events_pb2.PriceChanged)
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        async with SqlUnitOfWork(self.db, Prices) as uow:
            if await uow.claim(delivery.key, event.sku, str) is not None:
                return
            await uow.repos.record(event.sku, event.new_price.amount_minor)
            await uow.commit("recorded")


async def publish(js: JetStreamContext, event: events_pb2.PriceChanged, *, times: int = 1) -> None:
    """Publishes the event in its envelope; more than once as a relay that republished it
    after the broker's duplicate window would (the same envelope, a new message id)."""
    envelope = envelop(event, event.sku).envelope
    for attempt in range(times):
        await js.publish(
            "catalog.product.price_changed",
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": f"{envelope.id}-{attempt}"},
        )


async def dead_letters(js: JetStreamContext) -> list[dict[str, str]]:
    info = await js.stream_info(DEAD_LETTER_STREAM)
    found = []
    for seq in range(1, info.state.last_seq + 1):
        message = await js.get_msg(DEAD_LETTER_STREAM, seq)
        found.append({**(message.headers or {}), "subject": message.subject})
    return found


async def until(condition: object, what: str) -> None:
    assert callable(condition)
    for _ in range(int(WAIT_S / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {WAIT_S} s: {what}")


@pytest.fixture
async def projection(
    db: Database, nats_server: NatsServer, js: JetStreamContext
) -> AsyncIterator[PriceProjection]:
    handler = PriceProjection(db)
    subscription = Subscription("orders-prices", [events_pb2.PriceChanged], handler.handle)
    running = asyncio.create_task(
        EventConsumer(subscription, nats_server.url, ("orders", "orders-test")).run()
    )
    try:
        yield handler
    finally:
        running.cancel()


async def test_an_event_delivered_twice_takes_effect_once(
    projection: PriceProjection, js: JetStreamContext, db: Database
) -> None:
    await publish(js, price_changed("SKU-1", 500), times=2)
    await publish(js, price_changed("SKU-2", 600))
    await until(lambda: recorded_count(db, 2), "the next event")
    await until(lambda: asyncio.sleep(0, projection.calls == 3), "every delivery handled")

    assert await recorded(db) == [("SKU-1", 500), ("SKU-2", 600)]


async def recorded_count(db: Database, count: int) -> bool:
    return len(await recorded(db)) >= count


async def test_poison_messages_are_dead_lettered_with_a_reason_and_the_consumer_goes_on(
    projection: PriceProjection, js: JetStreamContext, db: Database
) -> None:
    await js.publish("catalog.product.price_changed", b"\xff\x00 not protobuf")
    bad_envelope = envelop(price_changed("SKU-1", 1), "SKU-1").envelope
    bad_envelope.correlation_id = ""  # breaks the envelope's rules
    await js.publish("catalog.product.price_changed", bad_envelope.SerializeToString())
    upserted = envelop(events_pb2.ProductUpserted(), "SKU-1").envelope  # not subscribed
    await js.publish("catalog.product.price_changed", upserted.SerializeToString())
    await publish(js, price_changed("SKU-3", 700))

    await until(lambda: recorded_count(db, 1), "the good event after the poison")
    letters = await dead_letters(js)

    assert await recorded(db) == [("SKU-3", 700)]
    assert [letter["subject"] for letter in letters] == ["deadletter.orders.orders-prices"] * 3
    reasons = [letter["Shop-Dead-Letter-Reason"] for letter in letters]
    assert reasons[0].startswith("not an EventEnvelope")
    assert reasons[1].startswith("invalid envelope")
    assert "is not an event orders-prices handles" in reasons[2]
    assert {letter["Shop-Original-Subject"] for letter in letters} == {
        "catalog.product.price_changed"
    }
    assert projection.calls == 1  # poison never reached the handler


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_bounded_attempts(
    projection: PriceProjection, js: JetStreamContext, db: Database
) -> None:
    projection.failures = [ValueError("a bug")] * consumer.MAX_ATTEMPTS
    await publish(js, price_changed("SKU-1", 500))
    await until(lambda: dead_letter_count(js, 1), "the failing event dead-lettered")
    await publish(js, price_changed("SKU-2", 600))
    await until(lambda: recorded_count(db, 1), "the next event")

    [letter] = await dead_letters(js)
    assert letter["Shop-Dead-Letter-Reason"] == "handler failed: ValueError('a bug')"
    assert letter["Shop-Deliveries"] == str(consumer.MAX_ATTEMPTS)
    assert await recorded(db) == [("SKU-2", 600)]


async def dead_letter_count(js: JetStreamContext, count: int) -> bool:
    return len(await dead_letters(js)) >= count


async def test_an_outage_of_what_the_handler_needs_is_retried_and_never_dead_lettered(
    projection: PriceProjection, js: JetStreamContext, db: Database
) -> None:
    outage = sa.OperationalError("INSERT", {}, psycopg.OperationalError("connection refused"))
    projection.failures = [outage] * (consumer.MAX_ATTEMPTS + 2)  # longer than the bound
    await publish(js, price_changed("SKU-1", 500))

    await until(lambda: recorded_count(db, 1), "the event handled once the outage ended")

    assert await recorded(db) == [("SKU-1", 500)]
    assert await dead_letters(js) == []
    assert projection.calls == consumer.MAX_ATTEMPTS + 3


async def test_empty_fetches_keep_the_connection(
    projection: PriceProjection,
    js: JetStreamContext,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """nats-py reports an empty fetch with nats.errors.TimeoutError, or, when its wait ran
    out between the no-wait probe and the long poll, with a bare asyncio.TimeoutError: a
    consumer that took the second for a failure reconnected (and re-created its consumer)
    every few fetches, and events waited meanwhile. Waits of a few milliseconds make that
    race frequent."""
    monkeypatch.setattr(consumer, "FETCH_WAIT_S", 0.002)
    caplog.set_level(logging.INFO, "chassis.consumer")
    await until(lambda: _consuming(caplog), "the consumer is consuming")
    await asyncio.sleep(2.0)  # hundreds of empty fetches
    await publish(js, price_changed("BK-1", 700))
    await until(lambda: _recorded_one(db), "the event is handled")
    assert [r.message for r in caplog.records if "NATS failed" in r.message] == []
    assert sum("consuming" in r.message for r in caplog.records) == 1


async def _consuming(caplog: pytest.LogCaptureFixture) -> bool:
    return any("consuming" in r.message for r in caplog.records)


async def _recorded_one(db: Database) -> bool:
    return await recorded(db) == [("BK-1", 700)]


async def test_a_handler_runs_in_the_trace_of_the_operation_that_emitted_the_event(
    nats_server: NatsServer, js: JetStreamContext
) -> None:
    seen: list[tuple[str, str]] = []

    async def handle(event: Message, delivery: Delivery) -> None:
        span_trace = trace.get_current_span().get_span_context().trace_id
        seen.append((f"{span_trace:032x}", context.trace_id.get()))

    emitting = NonRecordingSpan(
        SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=False)
    )
    with trace.use_span(emitting):
        await publish(js, price_changed("SKU-1", 500))  # the envelope carries its traceparent
    subscription = Subscription("orders-traced", [events_pb2.PriceChanged], handle)
    running = asyncio.create_task(
        EventConsumer(subscription, nats_server.url, ("orders", "orders-test")).run()
    )
    try:
        await until(lambda: asyncio.sleep(0, bool(seen)), "the event handled")
    finally:
        running.cancel()

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert seen == [(trace_id, trace_id)]  # the span downstream calls continue, and the logs'
