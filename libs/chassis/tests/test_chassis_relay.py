"""The outbox relay against a real PostgreSQL and a real NATS JetStream: events reach the
stream once each, in order per aggregate, woken by the commit; an outage of NATS delays
them but loses none; a relay that died before marking its work publishes no duplicate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from sqlalchemy import text

from chassis import context
from chassis.db import Database
from chassis.relay import OutboxRelay, RelaySettings
from chassis.testing import outbox_events
from chassis.testing.plugin import NatsServer
from chassis.uow import SqlUnitOfWork
from shop.catalog.v1 import events_pb2, product_pb2
from shop.common.v1.event_pb2 import EventEnvelope

pytestmark = pytest.mark.anyio

STREAM = "CATALOG"
SUBJECT = "catalog.product.upserted"  # ProductUpserted's, from its contract
WAIT_S = 30.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def db(chassis_db: str) -> AsyncIterator[Database]:
    context.set_service("catalog")
    database = Database(chassis_db)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def stream(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """The catalog's stream, as the stack creates it, and a client to read it."""
    client = await nats.connect(nats_server.url)
    js = client.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=["catalog.>"], duplicate_window=120))
    try:
        yield js
    finally:
        await client.close()


def relay(db: Database, nats_server: NatsServer, *, poll_s: float = 60.0) -> OutboxRelay:
    # A long poll: only the commit's NOTIFY can wake it in time for these tests.
    return OutboxRelay(db, RelaySettings(nats_server.url, poll_interval_s=poll_s))


async def commit_upserts(db: Database, sku: str, versions: range) -> list[str]:
    """One command per version, each emitting a ProductUpserted; the event ids in order."""
    for version in versions:
        async with SqlUnitOfWork(db, lambda conn: None) as uow:
            product = product_pb2.Product(sku=sku, version=version)
            uow.emit(events_pb2.ProductUpserted(product=product), sku)
            await uow.commit()
    return [e.envelope.id for e in await outbox_events(db, aggregate=f"products/{sku}")]


async def stream_contents(js: JetStreamContext, expected: int) -> list[EventEnvelope]:
    """The stream's messages, once it holds `expected` of them (or what it has by then)."""
    for _ in range(int(WAIT_S / 0.05)):
        if (await js.stream_info(STREAM)).state.messages >= expected:
            break
        await asyncio.sleep(0.05)
    info = await js.stream_info(STREAM)
    messages = [await js.get_msg(STREAM, seq) for seq in range(1, info.state.last_seq + 1)]
    return [EventEnvelope.FromString(m.data or b"") for m in messages]


async def unpublished(db: Database) -> int:
    async with db.transaction() as conn:
        count: int = await conn.scalar(
            text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        )
    return count


async def test_events_reach_the_stream_once_each_in_order_woken_by_the_commit(
    db: Database, nats_server: NatsServer, stream: JetStreamContext
) -> None:
    running = asyncio.create_task(relay(db, nats_server).run())
    try:
        await asyncio.sleep(0.5)  # the relay is up, waiting (its poll is a minute away)
        ids = await commit_upserts(db, "SKU-1", range(1, 21))
        received = await stream_contents(stream, expected=20)
    finally:
        running.cancel()

    assert [e.id for e in received] == ids  # in commit order, no gap, no copy
    versions = []
    for envelope in received:
        event = events_pb2.ProductUpserted()
        assert envelope.data.Unpack(event)
        versions.append(event.product.version)
    assert versions == list(range(1, 21))
    assert await unpublished(db) == 0
    message = await stream.get_msg(STREAM, 1)
    assert message.headers is not None
    assert message.headers["Nats-Msg-Id"] == ids[0]
    assert message.subject == SUBJECT


async def test_events_committed_while_nats_is_down_arrive_once_it_is_back(
    db: Database, nats_server: NatsServer, stream: JetStreamContext
) -> None:
    running = asyncio.create_task(relay(db, nats_server, poll_s=0.1).run())
    try:
        await commit_upserts(db, "SKU-1", range(1, 3))
        assert len(await stream_contents(stream, expected=2)) == 2
        await asyncio.to_thread(nats_server.stop)
        ids = await commit_upserts(db, "SKU-1", range(3, 6))
        await asyncio.sleep(1.0)  # the relay tries, and fails, meanwhile
        assert await unpublished(db) == 3  # waiting in the outbox, not lost
        await asyncio.to_thread(nats_server.start)
        client = await nats.connect(nats_server.url)
        try:
            received = await stream_contents(client.jetstream(), expected=5)
        finally:
            await client.close()
    finally:
        running.cancel()

    assert [e.id for e in received] == ids
    assert await unpublished(db) == 0


async def test_a_relay_that_died_before_marking_its_work_publishes_no_duplicate(
    db: Database, nats_server: NatsServer, stream: JetStreamContext
) -> None:
    ids = await commit_upserts(db, "SKU-1", range(1, 4))
    # What a relay killed between publishing and marking leaves behind: all three in the
    # stream, none marked published.
    async with db.transaction() as conn:
        rows = (await conn.execute(text("SELECT id::text, envelope FROM outbox"))).all()
    for event_id, envelope in sorted(rows, key=lambda row: ids.index(row[0])):
        await stream.publish(SUBJECT, envelope, headers={"Nats-Msg-Id": event_id})

    published = await relay(db, nats_server).publish_pending(stream)

    assert published == 3  # all published again and marked...
    assert [e.id for e in await stream_contents(stream, expected=3)] == ids  # ...no copy
    assert await unpublished(db) == 0


async def test_one_relay_per_database_is_active_and_a_standby_takes_over(
    db: Database, nats_server: NatsServer, stream: JetStreamContext
) -> None:
    first = asyncio.create_task(relay(db, nats_server, poll_s=0.1).run())
    await asyncio.sleep(0.5)
    second = asyncio.create_task(relay(db, nats_server, poll_s=0.1).run())
    try:
        before = await commit_upserts(db, "SKU-1", range(1, 3))
        assert [e.id for e in await stream_contents(stream, expected=2)] == before
        first.cancel()  # its connection, and lock, go away: the standby takes over
        every = await commit_upserts(db, "SKU-1", range(3, 5))
        received = await stream_contents(stream, expected=4)
        for _ in range(int(WAIT_S / 0.05)):  # it marks them after the broker's ack
            if not await unpublished(db):
                break
            await asyncio.sleep(0.05)
    finally:
        first.cancel()
        second.cancel()

    assert [e.id for e in received] == every
    assert await unpublished(db) == 0
