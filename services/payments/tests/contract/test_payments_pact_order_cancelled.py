"""What payments needs of orders' OrderCancelled (its pact with orders,
pacts/payments-orders.json): which payment to void or refund, up to which total, and why.
The pact's message goes through the chassis's decoder as payments' subscription receives
it, then through payments' reading of it (events.order_cancellation)."""

from __future__ import annotations

import pytest

from chassis.app import Runtime, ServiceApp
from chassis.testing import pact
from payments import events
from payments.domain import Money, OrderCancellation
from shop.orders.v1.events_pb2 import OrderCancelled

pytestmark = pytest.mark.anyio

PACT = pact.new_pact("payments", "orders")
CANCELLED = "an order was cancelled"
ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
PAYMENT_ID = "0b6e2c1d-9f3a-4e5b-8c7d-1a2b3c4d5e6f"

pact.event(
    PACT,
    CANCELLED,
    OrderCancelled,
    {
        # what payments acts on
        "orderId": pact.uuid(ORDER_ID),
        "paymentId": pact.uuid(PAYMENT_ID),
        "total": {"currencyCode": "EUR", "amountMinor": pact.int64(17800)},
        "reason": "changed my mind",
        # what the decoder's validation of an OrderCancelled needs
        "customerId": pact.match.str("customer-1"),
        "lines": pact.match.each_like({"sku": "KIT-KNIFE-1", "quantity": 2}),
        "version": pact.int64(3),
    },
    given="a confirmed order of 2 x KIT-KNIFE-1 at EUR 89.00 is cancelled: changed my mind",
)


async def test_payments_reads_which_payment_to_settle(
    service_app: ServiceApp, runtime: Runtime
) -> None:
    subscription = pact.subscribed(service_app, runtime, "payments-order-cancelled")

    cancelled = pact.received_events(PACT, subscription)[CANCELLED]

    assert events.order_cancellation(cancelled) == OrderCancellation(
        order_id=ORDER_ID,
        payment_id=PAYMENT_ID,
        total=Money("EUR", 17800),
        reason="changed my mind",
    )


async def test_the_pact_in_the_repository_is_current() -> None:
    pact.assert_committed(PACT)
