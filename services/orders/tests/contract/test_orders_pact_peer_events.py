"""What orders needs of payments', inventory's and shipping's events (the events of its
pacts with them, orders_pacts.py): the order history's payment and delivery status, and a
cancellation's three outcomes (a refund or void, the restock, the cancelled shipment).
Each message goes through the chassis's decoder as orders' subscription receives it, then
through the subscription's real handler into Postgres, about an order orders really
placed, confirmed (and cancelled) there: the event's ids are set to that order's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orders_pacts
import pytest
from orders_fakes import FakePeers, command
from orders_projection import project_outbox

from chassis.app import Runtime, ServiceApp
from chassis.consumer import Delivery, Subscription
from chassis.testing import outbox_events, pact
from orders import service
from orders.domain import (
    CartLine,
    CatalogPrice,
    DeliveryStatus,
    Money,
    Order,
    OrderStatus,
    PaymentStatus,
)
from orders.history import Entry
from orders.repository import Repositories
from orders.runner import SagaRunner
from orders.service import Caller, CancelRequest, UoW
from shop.orders.v1 import order_pb2
from shop.orders.v1.events_pb2 import OrderCancellationCompleted

pytestmark = pytest.mark.anyio

CUSTOMER = Caller("customer-1")
STREAMS = {  # where each provider's events are kept -> its pact
    "PAYMENTS": orders_pacts.PAYMENTS,
    "INVENTORY": orders_pacts.INVENTORY,
    "SHIPPING": orders_pacts.SHIPPING,
}


@dataclass(frozen=True)
class Orders:
    """Orders on Postgres, as its subscriptions are wired, with one order of 2 x
    KIT-KNIFE-1 at EUR 89.00 (EUR 183.00 with shipping)."""

    app: ServiceApp
    runtime: Runtime

    @property
    def uow(self) -> UoW:
        return self.runtime.units_of_work(Repositories.on)

    async def confirmed(self) -> Order:
        """PlaceOrder, then the saga to its end with peers that agree to everything."""
        peers = FakePeers()
        knife = CatalogPrice("KIT-KNIFE-1", "Chef's Knife", Money("EUR", 8900), 1)
        await service.project_product(self.uow, event_key=str(uuid.uuid4()), price=knife)
        placed = await service.place_order(
            self.uow,
            idempotency_key=str(uuid.uuid4()),
            command=command("customer-1", lines=(CartLine("KIT-KNIFE-1", 2),)),
            shipping=peers,
        )
        await SagaRunner(self.uow, peers.peers(), owner="orders-pact").run_once()
        return await self.order(placed.order_id)

    async def cancelling(self) -> Order:
        order = await self.confirmed()
        await service.cancel_order(
            self.uow,
            idempotency_key=str(uuid.uuid4()),
            request=CancelRequest(order.order_id, "changed my mind", CUSTOMER),
            shipping=FakePeers(),
        )
        cancelling = await self.order(order.order_id)
        assert cancelling.status is OrderStatus.CANCELLING
        return cancelling

    async def order(self, order_id: str) -> Order:
        return (await service.get_order(self.uow, CUSTOMER, order_id)).order

    async def entry(self, order_id: str) -> Entry:
        """The order in the history (its own events projected first, as on a stack)."""
        await project_outbox(self.runtime)
        async with self.uow().read() as uow:
            found = await uow.repos.history.page("customer-1", status=None, after=None, limit=10)
        [entry] = [e for e in found if e.order_id == order_id]
        return entry

    async def receive(self, subscription: str, description: str, about: Order) -> None:
        """The pact's event `description`, about the order `about`, through the handler
        of `subscription`, delivered once (a fresh envelope id: its own inbox key)."""
        wired = pact.subscribed(self.app, self.runtime, subscription)
        stream, of = next((s, p) for s, p in STREAMS.items() if _names(p, description))
        event, envelope = pact.received(of, wired)[description]
        _about(event, about)
        envelope.id = str(uuid.uuid4())
        await wired.handle(event, Delivery(envelope, wired.name, 1, stream, 1))


def _names(peer: pact.Pact, description: str) -> bool:
    return any(i.description == description for i in peer.interactions("Async"))


def _about(event: Any, order: Order) -> None:
    """The example's ids replaced by the order's (each provider's ids are its own)."""
    event.order_id = order.order_id
    for field, value in (
        ("payment_id", order.payment_id),
        ("reservation_id", order.reservation_id),
        ("shipment_id", order.shipment_id),
    ):
        if field in event.DESCRIPTOR.fields_by_name:
            setattr(event, field, value)


@pytest.fixture
def orders(service_app: ServiceApp, runtime: Runtime) -> Orders:
    return Orders(service_app, runtime)


async def test_every_event_of_the_pacts_is_one_orders_subscribes_to(
    service_app: ServiceApp, runtime: Runtime
) -> None:
    for name, peer in [
        ("orders-payment-events", orders_pacts.PAYMENTS),
        ("orders-inventory-events", orders_pacts.INVENTORY),
        ("orders-shipping-events", orders_pacts.SHIPPING),
    ]:
        subscription: Subscription[Any] = pact.subscribed(service_app, runtime, name)
        events = {str(i.description) for i in peer.interactions("Async")}
        assert set(map(str, pact.received(peer, subscription))) == events


async def test_the_history_shows_the_payment_captured_and_the_parcel_with_its_carrier(
    orders: Orders,
) -> None:
    order = await orders.confirmed()

    await orders.receive("orders-payment-events", orders_pacts.CAPTURED, order)
    await orders.receive("orders-shipping-events", orders_pacts.SHIPMENT_CREATED, order)
    created = await orders.entry(order.order_id)
    await orders.receive("orders-shipping-events", orders_pacts.DISPATCHED, order)
    dispatched = await orders.entry(order.order_id)

    assert (created.payment_id, created.payment_status) == (
        order.payment_id,
        PaymentStatus.CAPTURED,
    )
    assert (created.shipment_id, created.delivery_status) == (
        order.shipment_id,
        DeliveryStatus.CREATED,
    )
    assert (dispatched.delivery_status, dispatched.carrier, dispatched.tracking_number) == (
        DeliveryStatus.DISPATCHED,
        "DHL",
        "JD014600006281230704",
    )


@pytest.mark.parametrize(
    ("payment_outcome", "payment_status", "refunded_minor"),
    [
        (orders_pacts.REFUNDED, PaymentStatus.REFUNDED, 18300),
        (orders_pacts.VOIDED, PaymentStatus.VOIDED, 0),
    ],
)
async def test_a_cancellation_is_settled_by_the_payment_the_restock_and_the_shipment(
    orders: Orders, payment_outcome: str, payment_status: PaymentStatus, refunded_minor: int
) -> None:
    order = await orders.cancelling()

    await orders.receive("orders-payment-events", payment_outcome, order)
    await orders.receive("orders-inventory-events", orders_pacts.RESTOCKED, order)
    waiting = await orders.order(order.order_id)
    await orders.receive("orders-shipping-events", orders_pacts.SHIPMENT_CANCELLED, order)
    settled = await orders.order(order.order_id)

    assert waiting.status is OrderStatus.CANCELLING  # two of the three outcomes
    assert settled.status is OrderStatus.CANCELLED
    assert (settled.payment_undone, settled.refunded_minor) == (payment_status, refunded_minor)
    [completed] = [
        e.data
        for e in await outbox_events(orders.runtime.db)
        if isinstance(e.data, OrderCancellationCompleted)
    ]
    assert completed.payment_status == order_pb2.PaymentStatus.ValueType(int(payment_status))
    assert completed.refunded.amount_minor == refunded_minor
    entry = await orders.entry(order.order_id)
    assert (entry.payment_status, entry.delivery_status) == (
        payment_status,
        DeliveryStatus.CANCELLED,
    )
