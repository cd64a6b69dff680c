"""Cancelling, with orders' real instance (API, runner, relay, consumers) on Postgres and
a real NATS JetStream; payments, inventory and shipping as gRPC servers the test controls.

- A confirmed order: CancelOrder publishes OrderCancelled and nothing else; the outcomes
  the three peers would publish (sent here as their real envelopes) move it to CANCELLED
  once all three are in, redeliveries and strangers' events changing nothing; ListOrders
  with the cancel's token shows it, with payment and delivery status.
- A cancel queued while the saga is in a call: the order comes back PENDING at once, the
  saga compensates what it did and the order ends CANCELLED, with no OrderCancelled.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from google.protobuf.message import Message
from nats.js import JetStreamContext
from orders_peer_servers import PeerServers, peer_server

from chassis.app import Runtime, ServiceApp
from chassis.db import Database
from chassis.outbox import envelop, event_route
from chassis.testing import outbox_events, serving
from chassis.testing.plugin import NatsServer, instance_settings, jetstream
from orders import main, service
from orders.domain import CatalogPrice, Money, Order, OrderStatus
from orders.grpc_api import ERRORS
from orders.repository import Repositories
from shop.common.v1 import address_pb2, money_pb2
from shop.inventory.v1 import reservation_pb2
from shop.inventory.v1.events_pb2 import ReservationRestocked
from shop.orders.v1 import order_pb2
from shop.orders.v1 import orders_service_pb2 as pb
from shop.orders.v1.orders_service_pb2_grpc import OrdersServiceStub
from shop.payments.v1.events_pb2 import PaymentRefunded, PaymentVoided
from shop.shipping.v1.events_pb2 import ShipmentCancelled

if TYPE_CHECKING:
    from shop.orders.v1.orders_service_pb2_grpc import OrdersServiceAsyncStub

pytestmark = pytest.mark.anyio
ALICE = (("x-shop-subject", "alice"), ("x-shop-role", "customer"))
APP = ServiceApp(
    "orders",
    wire=functools.partial(main.wire, poll_interval_s=0.05, backfill=False),
    errors=ERRORS,
    migrations=main.MIGRATIONS_DIR,
)
CONTEXTS = ("orders", "payments", "shipping", "inventory", "catalog")


def request() -> pb.PlaceOrderRequest:
    address = address_pb2.Address(
        recipient="Alice",
        lines=["1 Main St"],
        locality="Berlin",
        postal_code="10115",
        country_code="DE",
    )
    return pb.PlaceOrderRequest(
        idempotency_key=str(uuid.uuid4()),
        lines=[pb.PlaceOrderLine(sku="SKU-1", quantity=2)],
        shipping_address=address,
        shipping_speed=order_pb2.SHIPPING_SPEED_STANDARD,
        currency_code="EUR",
        payment_token="tok_visa",
    )


def cancel(order_id: str) -> pb.CancelOrderRequest:
    return pb.CancelOrderRequest(
        idempotency_key=str(uuid.uuid4()), order_id=order_id, reason="changed my mind"
    )


@dataclass
class Stack:
    stub: OrdersServiceAsyncStub
    peers: PeerServers
    runtime: Runtime
    js: JetStreamContext | None = None

    async def order(self, order_id: str) -> order_pb2.Order:
        reply = await self.stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=ALICE)
        found: order_pb2.Order = reply.order
        return found

    async def reaches(
        self, order_id: str, status: order_pb2.OrderStatus.ValueType
    ) -> order_pb2.Order:
        for _ in range(600):
            order = await self.order(order_id)
            if order.status == status:
                return order
            await asyncio.sleep(0.025)
        raise AssertionError(f"order {order_id} never reached {status}: {order.status}")

    async def publish(self, event: Message, aggregate_id: str, msg_id: str = "") -> None:
        """`event` as its owner's relay publishes it (its real envelope)."""
        assert self.js is not None
        envelope = envelop(event, aggregate_id).envelope
        subject = event_route(event.DESCRIPTOR).subject  # type: ignore[arg-type]
        headers = {"Nats-Msg-Id": msg_id or envelope.id}
        await self.js.publish(subject, envelope.SerializeToString(), headers=headers)

    async def stored(self, order_id: str, until: Callable[[Order], bool] = lambda _: True) -> Order:
        """The order as orders stores it, once `until` holds."""
        unit_of_work = self.runtime.units_of_work(Repositories.on)
        for _ in range(600):
            viewed = await service.get_order(unit_of_work, service.Caller("alice"), order_id)
            if until(viewed.order):
                return viewed.order
            await asyncio.sleep(0.025)
        raise AssertionError(f"order {order_id} never got there")

    async def subjects(self) -> list[str]:
        return [e.subject for e in await outbox_events(self.runtime.db)]


async def _seed(runtime: Runtime) -> None:
    price = CatalogPrice("SKU-1", "Mug", Money("EUR", 1250), 1)
    uow = runtime.units_of_work(Repositories.on)
    await service.project_product(uow, event_key=str(uuid.uuid4()), price=price)


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    async with jetstream(nats_server, *CONTEXTS) as stream:
        yield stream


@asynccontextmanager
async def started(
    peers: PeerServers, nats_server: NatsServer, js: JetStreamContext, db: Database, url: str
) -> AsyncIterator[Stack]:
    """Orders with `peers` (patch them first: gRPC binds their methods when serving)."""
    async with peer_server(peers) as address:
        settings = instance_settings("orders", url, mesh_outbound=address, nats_url=nats_server.url)
        runtime = Runtime(settings, db)
        await _seed(runtime)
        async with serving(APP, runtime) as channel:
            yield Stack(OrdersServiceStub(channel), peers, runtime, js)


@pytest.fixture
async def stack(
    nats_server: NatsServer, js: JetStreamContext, db: Database, clean_database: str
) -> AsyncIterator[Stack]:
    async with started(PeerServers(), nats_server, js, db, clean_database) as running:
        yield running


async def test_a_confirmed_order_is_cancelled_once_every_outcome_is_in(stack: Stack) -> None:
    placed = await stack.stub.PlaceOrder(request(), metadata=ALICE)
    order = await stack.reaches(placed.order.order_id, order_pb2.ORDER_STATUS_CONFIRMED)
    listed = await stack.stub.ListOrders(
        pb.ListOrdersRequest(consistency_token=placed.consistency_token), metadata=ALICE
    )
    assert [o.order_id for o in listed.orders] == [order.order_id]  # the view saw the write

    cancelling = await stack.stub.CancelOrder(cancel(order.order_id), metadata=ALICE)
    assert cancelling.order.status == order_pb2.ORDER_STATUS_CANCELLING
    assert (await stack.subjects())[-1] == "orders.order.cancelled"
    total = money_pb2.Money(currency_code="EUR", amount_minor=order.total.amount_minor)
    refunded = PaymentRefunded(
        payment_id=order.payment_id,
        order_id=order.order_id,
        customer_id="alice",
        refund_amount=total,
        total_refunded_amount=total,
        captured_amount=total,
    )
    restocked = ReservationRestocked(
        reservation_id=order.reservation_id,
        order_id=order.order_id,
        lines=[reservation_pb2.ReservationLine(sku="SKU-1", quantity=2)],
    )
    shipment_cancelled = ShipmentCancelled(
        shipment_id=order.shipment_id, order_id=order.order_id, customer_id="alice", version=2
    )
    stranger = str(uuid.uuid4())  # an order orders does not know: acked, nothing happens
    await stack.publish(
        PaymentVoided(
            payment_id=str(uuid.uuid4()),
            order_id=stranger,
            customer_id="bob",
            released_amount=total,
        ),
        stranger,
    )
    await stack.publish(refunded, order.payment_id, msg_id="refund")
    await stack.publish(refunded, order.payment_id)  # the same outcome, published again
    await stack.publish(restocked, order.reservation_id)
    two_of_three = await stack.stored(
        order.order_id, lambda o: o.stock_returned and bool(o.payment_undone)
    )
    assert two_of_three.status is OrderStatus.CANCELLING  # still waiting for shipping
    await stack.publish(shipment_cancelled, order.shipment_id)

    done = await stack.reaches(order.order_id, order_pb2.ORDER_STATUS_CANCELLED)
    assert done.payment_status == order_pb2.PAYMENT_STATUS_REFUNDED
    assert done.delivery_status == order_pb2.DELIVERY_STATUS_CANCELLED
    assert done.cancel_reason == "changed my mind"
    subjects = await stack.subjects()
    assert subjects.count("orders.order.cancellation_completed") == 1
    assert subjects.count("orders.order.cancelled") == 1
    # orders itself undid nothing: payments, inventory and shipping did, on their own.
    assert "VoidAuthorization" not in stack.peers.payments.calls
    assert "ReleaseReservation" not in stack.peers.inventory.calls
    assert "CancelShipment" not in stack.peers.shipping.calls

    done_token = service.consistency_token(await stack.stored(order.order_id))
    history = await stack.stub.ListOrders(
        pb.ListOrdersRequest(consistency_token=done_token), metadata=ALICE, timeout=10
    )
    [shown] = history.orders
    assert shown.status == order_pb2.ORDER_STATUS_CANCELLED
    assert shown.payment_status == order_pb2.PAYMENT_STATUS_REFUNDED
    assert shown.delivery_status == order_pb2.DELIVERY_STATUS_CANCELLED


async def test_a_cancel_queued_mid_step_compensates_and_publishes_no_order_cancelled(
    nats_server: NatsServer, js: JetStreamContext, db: Database, clean_database: str
) -> None:
    peers = PeerServers()
    gate = asyncio.Event()
    reserve = peers.inventory.ReserveStock

    async def slow_reserve(request: object, context: object) -> object:
        result = await reserve(request, context)  # type: ignore[arg-type]
        await gate.wait()
        return result

    peers.inventory.ReserveStock = slow_reserve  # type: ignore[method-assign,assignment]
    async with started(peers, nats_server, js, db, clean_database) as stack:
        await _cancel_mid_step(stack, gate)


async def _cancel_mid_step(stack: Stack, gate: asyncio.Event) -> None:
    placed = await stack.stub.PlaceOrder(request(), metadata=ALICE)
    while not stack.peers.inventory.status:  # the saga is in ReserveStock
        await asyncio.sleep(0.01)
    queued = await stack.stub.CancelOrder(cancel(placed.order.order_id), metadata=ALICE)
    assert queued.order.status == order_pb2.ORDER_STATUS_PENDING  # at once, still PENDING
    assert queued.order.cancel_requested
    gate.set()

    done = await stack.reaches(placed.order.order_id, order_pb2.ORDER_STATUS_CANCELLED)
    assert done.rejection_reason == order_pb2.REJECTION_REASON_UNSPECIFIED
    assert done.cancel_reason == "changed my mind"
    assert done.payment_status == order_pb2.PAYMENT_STATUS_VOIDED
    assert list(stack.peers.payments.status.values()) == ["VOIDED"]
    assert list(stack.peers.inventory.status.values()) == ["RELEASED"]
    assert "CreateShipment" not in stack.peers.shipping.calls  # stopped before the next step
    subjects = await stack.subjects()
    assert subjects == ["orders.order.placed", "orders.order.cancellation_completed"]
    states = {s.kind: s.state for s in done.saga_steps}
    assert states[order_pb2.SAGA_STEP_KIND_RESERVE_STOCK] == order_pb2.SAGA_STEP_STATE_COMPENSATED
