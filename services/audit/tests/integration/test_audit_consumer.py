"""Audit's consumers end to end: a real NATS JetStream server, events published in the
envelopes the outbox writes, the audit instance running in-process with its consumers as
workers, and what it recorded read back over its API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import pytest
from audit_examples import price_changed, stock_low
from google.protobuf.message import Message
from nats.js import JetStreamContext

from audit.events import audited_events
from chassis.app import Runtime, ServiceApp
from chassis.db import Database
from chassis.outbox import envelop, event_route
from chassis.testing import serving
from chassis.testing.plugin import NatsServer, instance_settings, jetstream
from shop.audit.v1 import audit_service_pb2 as pb
from shop.audit.v1.audit_service_pb2_grpc import AuditServiceStub
from shop.common.v1.event_pb2 import EventEnvelope

if TYPE_CHECKING:
    from shop.audit.v1.audit_service_pb2_grpc import AuditServiceAsyncStub

pytestmark = pytest.mark.anyio

WAIT_S = 30.0


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """Every context's stream, as the stack creates them, and the dead-letter stream."""
    async with jetstream(nats_server, *audited_events()) as stream:
        yield stream


@pytest.fixture
async def audit(
    service_app: ServiceApp, nats_server: NatsServer, js: JetStreamContext, clean_database: str
) -> AsyncIterator[AuditServiceAsyncStub]:
    """The audit instance with its consumers running against the test's NATS server."""
    db = Database(clean_database)
    settings = instance_settings("audit", clean_database, nats_url=nats_server.url)
    try:
        async with serving(service_app, Runtime(settings, db)) as channel:
            yield AuditServiceStub(channel)
    finally:
        await db.dispose()


async def publish(
    js: JetStreamContext, event: Message, aggregate_id: str, *, times: int = 1
) -> EventEnvelope:
    """Publishes the event in its envelope as the relay does; more than once as a relay
    that republished it after the broker's duplicate window would (a new message id)."""
    envelope = envelop(event, aggregate_id).envelope
    subject = event_route(event.DESCRIPTOR).subject  # type: ignore[arg-type]
    for attempt in range(times):
        await js.publish(
            subject,
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": f"{envelope.id}-{attempt}"},
        )
    return envelope


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(int(WAIT_S / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {WAIT_S} s: {what}")


async def listed(audit: AuditServiceAsyncStub) -> list[EventEnvelope]:
    reply = await audit.ListEvents(pb.ListEventsRequest(page_size=100))
    return [r.event for r in reply.records]


async def test_events_of_every_stream_are_recorded_once_in_one_intact_chain(
    audit: AuditServiceAsyncStub, js: JetStreamContext
) -> None:
    price = await publish(js, price_changed("SKU-1"), "SKU-1", times=2)  # a republished event
    stock = await publish(js, stock_low("SKU-1"), "SKU-1")
    last = await publish(js, price_changed("SKU-2"), "SKU-2")

    async def all_recorded() -> bool:
        return {e.id for e in await listed(audit)} == {price.id, stock.id, last.id}

    await until(all_recorded, "every event recorded")
    reply = await audit.ListEvents(pb.ListEventsRequest(page_size=100))
    verification = await audit.VerifyChain(pb.VerifyChainRequest())

    assert sorted(r.event.id for r in reply.records) == sorted([price.id, stock.id, last.id])
    by_id = {r.event.id: r for r in reply.records}
    assert by_id[price.id].event == price  # the whole envelope, as published
    assert (by_id[price.id].stream, by_id[price.id].stream_sequence) == ("CATALOG", 1)
    assert (by_id[stock.id].stream, by_id[stock.id].stream_sequence) == ("INVENTORY", 1)
    assert (by_id[last.id].stream, by_id[last.id].stream_sequence) == ("CATALOG", 3)
    assert verification.intact
    assert verification.records_checked == 3


async def test_a_redelivery_after_the_first_was_recorded_appends_nothing(
    audit: AuditServiceAsyncStub, js: JetStreamContext
) -> None:
    envelope = envelop(price_changed("SKU-1"), "SKU-1").envelope
    subject = "catalog.product.price_changed"
    await js.publish(subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": "first"})
    await until(lambda: _count_is(audit, 1), "the first delivery recorded")

    await js.publish(subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": "again"})
    marker = await publish(js, price_changed("SKU-2"), "SKU-2")
    await until(lambda: _contains(audit, marker.id), "the event after the redelivery")

    assert [e.id for e in await listed(audit)] == [envelope.id, marker.id]


async def _count_is(audit: AuditServiceAsyncStub, count: int) -> bool:
    return len(await listed(audit)) == count


async def _contains(audit: AuditServiceAsyncStub, event_id: str) -> bool:
    return event_id in {e.id for e in await listed(audit)}
