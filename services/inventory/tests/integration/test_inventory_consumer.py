"""Inventory's OrderCancelled consumer end to end: a real NATS JetStream server, orders'
events published in the envelopes the outbox writes, the inventory instance running
in-process (its subscription and outbox relay as workers, seeded stock), reservations
made over its gRPC API, and what it published read back from the INVENTORY stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import nats
import nats.js.errors
import pytest
from nats.js import JetStreamContext

from chassis.app import Runtime, ServiceApp
from chassis.consumer import DEAD_LETTER_STREAM
from chassis.db import Database
from chassis.outbox import envelop, event_route
from chassis.testing import outbox_events, serving
from chassis.testing.plugin import NatsServer, instance_settings, jetstream
from shop.common.v1 import money_pb2
from shop.common.v1.event_pb2 import EventEnvelope
from shop.inventory.v1 import events_pb2, reservation_pb2
from shop.inventory.v1 import inventory_service_pb2 as pb
from shop.inventory.v1.inventory_service_pb2_grpc import InventoryServiceStub
from shop.orders.v1 import events_pb2 as orders_events
from shop.orders.v1 import order_pb2

if TYPE_CHECKING:  # the async stub type exists only in the type stubs
    from shop.inventory.v1.inventory_service_pb2_grpc import InventoryServiceAsyncStub

pytestmark = pytest.mark.anyio

WAIT_S = 30.0
SUBSCRIPTION = "inventory-order-cancelled"
SKU = "KIT-CHEF-KNIFE-20"  # seeded with 47 on hand (seed_stock.json)


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """The streams the instance reads and writes, as the stack creates them."""
    async with jetstream(nats_server, "orders", "inventory") as stream:
        yield stream


@pytest.fixture
async def inventory(
    service_app: ServiceApp,
    nats_server: NatsServer,
    js: JetStreamContext,
    db: Database,
    clean_database: str,
) -> AsyncIterator[InventoryServiceAsyncStub]:
    """The inventory instance, consuming from and relaying to the test's NATS server."""
    settings = instance_settings("inventory", clean_database, nats_url=nats_server.url)
    async with serving(service_app, Runtime(settings, db)) as channel:
        yield InventoryServiceStub(channel)


async def reserve(inventory: InventoryServiceAsyncStub, order_id: str, quantity: int) -> str:
    reply = await inventory.ReserveStock(
        pb.ReserveStockRequest(
            idempotency_key=str(uuid.uuid4()),
            order_id=order_id,
            lines=[reservation_pb2.ReservationLine(sku=SKU, quantity=quantity)],
        )
    )
    return reply.reservation.reservation_id


async def stock(inventory: InventoryServiceAsyncStub) -> tuple[int, int]:
    level = (await inventory.GetStock(pb.GetStockRequest(sku=SKU))).stock_level
    return level.on_hand, level.reserved


def order_cancelled(order_id: str, reservation_id: str) -> orders_events.OrderCancelled:
    return orders_events.OrderCancelled(
        order_id=order_id,
        customer_id="customer-ada",
        reservation_id=reservation_id,
        lines=[order_pb2.OrderLine(sku=SKU, name="Chef's knife", quantity=2)],
        total=money_pb2.Money(currency_code="EUR", amount_minor=8990),
        reason="changed my mind",
        version=4,
    )


async def publish(
    js: JetStreamContext, event: orders_events.OrderCancelled, *, times: int = 1
) -> EventEnvelope:
    """Publishes the event in its envelope as orders' relay does; more than once as a
    relay that republished it after the broker's duplicate window would (a new message
    id, the same event id)."""
    envelope = envelop(event, event.order_id).envelope
    subject = event_route(event.DESCRIPTOR).subject
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


async def all_acknowledged(js: JetStreamContext) -> bool:
    """Whether the subscription acknowledged every ORDERS message (handled, or
    dead-lettered: see dead_letters)."""
    try:
        info = await js.consumer_info("ORDERS", SUBSCRIPTION)
    except nats.js.errors.NotFoundError:
        return False  # the instance has not created its consumer yet
    last = (await js.stream_info("ORDERS")).state.last_seq
    return info.ack_floor is not None and info.ack_floor.stream_seq == last


async def released_on_stream(js: JetStreamContext) -> list[events_pb2.ReservationReleased]:
    """The ReservationReleased events inventory published on its stream."""
    info = await js.stream_info("INVENTORY")
    found = []
    for seq in range(1, info.state.last_seq + 1):
        envelope = EventEnvelope.FromString((await js.get_msg("INVENTORY", seq)).data or b"")
        event = events_pb2.ReservationReleased()
        if envelope.data.Unpack(event):
            found.append(event)
    return found


async def dead_letters(js: JetStreamContext) -> int:
    return (await js.stream_info(DEAD_LETTER_STREAM)).state.messages


async def test_a_pending_reservation_is_released_once_and_inventory_publishes_it(
    inventory: InventoryServiceAsyncStub, js: JetStreamContext, db: Database
) -> None:
    order_id = str(uuid.uuid4())
    reservation_id = await reserve(inventory, order_id, 2)
    assert await stock(inventory) == (47, 2)

    await publish(js, order_cancelled(order_id, reservation_id), times=2)
    await until(lambda: all_acknowledged(js), "both deliveries handled")

    async def released_published() -> bool:
        return bool(await released_on_stream(js))

    await until(released_published, "ReservationReleased on the INVENTORY stream")
    assert await stock(inventory) == (47, 0)
    releases = [
        e.data
        for e in await outbox_events(db)
        if isinstance(e.data, events_pb2.ReservationReleased)
    ]
    assert len(releases) == 1  # the second delivery found the first one's claim
    on_stream = await released_on_stream(js)
    assert on_stream == releases
    assert on_stream[0].reservation_id == reservation_id
    assert on_stream[0].order_id == order_id
    assert on_stream[0].reason == events_pb2.RELEASE_REASON_ORDER_CANCELLED
    assert on_stream[0].detail == "order cancelled: changed my mind"
    assert await dead_letters(js) == 0


async def test_a_confirmed_reservation_is_restocked_once_and_no_ops_are_not_dead_lettered(
    inventory: InventoryServiceAsyncStub, js: JetStreamContext, db: Database
) -> None:
    order_id = str(uuid.uuid4())
    reservation_id = await reserve(inventory, order_id, 2)
    await inventory.ConfirmReservation(
        pb.ConfirmReservationRequest(
            idempotency_key=str(uuid.uuid4()), reservation_id=reservation_id
        )
    )
    assert await stock(inventory) == (45, 0)
    events_before = len(await outbox_events(db))

    await publish(js, order_cancelled(order_id, reservation_id), times=2)
    await publish(js, order_cancelled(str(uuid.uuid4()), ""))  # never reserved
    await publish(js, order_cancelled(str(uuid.uuid4()), str(uuid.uuid4())))  # unknown here
    await until(lambda: all_acknowledged(js), "every delivery handled")

    assert await stock(inventory) == (47, 0)  # restocked once
    published = (await outbox_events(db))[events_before:]
    assert [e.subject for e in published] == ["inventory.reservation.restocked"]  # once
    assert await dead_letters(js) == 0  # the no-ops were handled, not refused
