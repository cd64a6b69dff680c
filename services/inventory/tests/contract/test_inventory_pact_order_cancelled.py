"""What inventory needs of orders' OrderCancelled (its pact with orders,
pacts/inventory-orders.json): which reservation to release or restock, and why. The pact's
message goes through the chassis's decoder as inventory's subscription receives it, then
through inventory's reading of it (events.order_cancellation)."""

from __future__ import annotations

import pytest

from chassis.app import Runtime, ServiceApp
from chassis.testing import pact
from inventory import events
from inventory.domain import OrderCancellation
from shop.orders.v1.events_pb2 import OrderCancelled

pytestmark = pytest.mark.anyio

PACT = pact.new_pact("inventory", "orders")
CANCELLED = "an order was cancelled"
ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
RESERVATION_ID = "5c3b1a29-8e7d-4f6a-b5c4-d3e2f1a0b9c8"

pact.event(
    PACT,
    CANCELLED,
    OrderCancelled,
    {
        # what inventory acts on
        "orderId": pact.uuid(ORDER_ID),
        "reservationId": pact.uuid(RESERVATION_ID),
        "reason": "changed my mind",
        # what the decoder's validation of an OrderCancelled needs
        "total": {"currencyCode": "EUR", "amountMinor": pact.int64(17800)},
        "customerId": pact.match.str("customer-1"),
        "lines": pact.match.each_like({"sku": "KIT-KNIFE-1", "quantity": 2}),
        "version": pact.int64(3),
    },
    given="a confirmed order of 2 x KIT-KNIFE-1 at EUR 89.00 is cancelled: changed my mind",
)


async def test_inventory_reads_which_reservation_to_give_back(
    service_app: ServiceApp, runtime: Runtime
) -> None:
    subscription = pact.subscribed(service_app, runtime, "inventory-order-cancelled")

    cancelled = pact.received_events(PACT, subscription)[CANCELLED]

    assert events.order_cancellation(cancelled) == OrderCancellation(
        order_id=ORDER_ID, reservation_id=RESERVATION_ID, reason="changed my mind"
    )


async def test_the_pact_in_the_repository_is_current() -> None:
    pact.assert_committed(PACT)
