"""What shipping needs of orders' OrderCancelled (its pact with orders,
pacts/shipping-orders.json): which shipment to cancel, and why. The pact's message goes
through the chassis's decoder as shipping's subscription receives it, then through
shipping's reading of it (events.order_cancellation)."""

from __future__ import annotations

import pytest

from chassis.app import Runtime, ServiceApp
from chassis.testing import pact
from shipping import events
from shipping.domain import OrderCancellation
from shop.orders.v1.events_pb2 import OrderCancelled

pytestmark = pytest.mark.anyio

PACT = pact.new_pact("shipping", "orders")
CANCELLED = "an order was cancelled"
ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
SHIPMENT_ID = "9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5"

pact.event(
    PACT,
    CANCELLED,
    OrderCancelled,
    {
        # what shipping acts on
        "orderId": pact.uuid(ORDER_ID),
        "shipmentId": pact.uuid(SHIPMENT_ID),
        "reason": "changed my mind",
        # what the decoder's validation of an OrderCancelled needs
        "total": {"currencyCode": "EUR", "amountMinor": pact.int64(17800)},
        "customerId": pact.match.str("customer-1"),
        "lines": pact.match.each_like({"sku": "KIT-KNIFE-1", "quantity": 2}),
        "version": pact.int64(3),
    },
    given="a confirmed order of 2 x KIT-KNIFE-1 at EUR 89.00 is cancelled: changed my mind",
)


async def test_shipping_reads_which_shipment_to_cancel(
    service_app: ServiceApp, runtime: Runtime
) -> None:
    subscription = pact.subscribed(service_app, runtime, "shipping-order-cancelled")

    cancelled = pact.received_events(PACT, subscription)[CANCELLED]

    assert events.order_cancellation(cancelled) == OrderCancellation(
        order_id=ORDER_ID, shipment_id=SHIPMENT_ID, reason="order cancelled: changed my mind"
    )


async def test_the_pact_in_the_repository_is_current() -> None:
    pact.assert_committed(PACT)
