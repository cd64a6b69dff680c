"""What notifications needs of orders' events (its pact pacts/notifications-orders.json):
whom to tell (the customer), about which order, and what (what was ordered, where it
goes, the total, why it was rejected or cancelled). Each message goes through the
chassis's decoder as notifications' subscription receives it, then through notifications'
reading of it (events.cause_of)."""

from __future__ import annotations

import pytest

from chassis.app import Runtime, ServiceApp
from chassis.testing import pact
from notifications import events
from notifications.domain import Topic
from shop.orders.v1.events_pb2 import (
    OrderCancellationCompleted,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrderRejected,
)

pytestmark = pytest.mark.anyio

PACT = pact.new_pact("notifications", "orders")
CONFIRMED = "an order was confirmed"
CANCELLED = "an order was cancelled"
CANCELLED_WHILE_PLACED = "an order's cancellation while it was placed was completed"
PLACED = "an order was placed"
REJECTED = "an order was rejected"
ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
ABOUT_THE_ORDER = {
    "orderId": pact.uuid(ORDER_ID),
    "customerId": "customer-1",
    "total": {"currencyCode": "EUR", "amountMinor": pact.int64(18300)},
    "version": pact.int64(3),  # what the decoder's validation needs
}
pact.event(
    PACT,
    CONFIRMED,
    OrderConfirmed,
    {
        **ABOUT_THE_ORDER,
        # what the decoder's validation needs
        "paymentId": pact.uuid("0b6e2c1d-9f3a-4e5b-8c7d-1a2b3c4d5e6f"),
        "reservationId": pact.uuid("5c3b1a29-8e7d-4f6a-b5c4-d3e2f1a0b9c8"),
        "shipmentId": pact.uuid("9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5"),
    },
    given="a confirmed order of 2 x KIT-KNIFE-1 at EUR 89.00 by customer-1",
)
pact.event(
    PACT,
    CANCELLED,
    OrderCancelled,
    {
        **ABOUT_THE_ORDER,
        "reason": "changed my mind",
        "lines": pact.match.each_like({"sku": "KIT-KNIFE-1", "quantity": 2}),  # validation
    },
    given="a confirmed order of 2 x KIT-KNIFE-1 at EUR 89.00 is cancelled: changed my mind",
)
pact.event(
    PACT,
    CANCELLED_WHILE_PLACED,
    OrderCancellationCompleted,
    {
        "orderId": pact.uuid(ORDER_ID),
        "customerId": "customer-1",
        # whether the customer was told already (a refund follows a confirmed order's)
        "paymentStatus": "PAYMENT_STATUS_VOIDED",
        "reason": "ordered twice",
        "refunded": {"currencyCode": "EUR"},  # what the decoder's validation needs
        "version": pact.int64(4),
    },
    given=(
        "an order of 2 x KIT-KNIFE-1 by customer-1 is cancelled while it is placed, "
        "after its payment was authorized: ordered twice"
    ),
)
pact.event(
    PACT,
    PLACED,
    OrderPlaced,
    {
        **ABOUT_THE_ORDER,
        "lines": pact.match.each_like(
            {
                "sku": "KIT-KNIFE-1",
                "name": "Chef's Knife",
                "quantity": 2,
                "lineTotal": {"currencyCode": "EUR", "amountMinor": pact.int64(17800)},
            }
        ),
        "shippingAddress": {
            # where it goes, and what the decoder's validation of an address needs
            "recipient": "Alice",
            "lines": ["1 Main St"],
            "locality": "Berlin",
            "postalCode": "10115",
            "countryCode": "DE",
        },
        "shippingSpeed": "SHIPPING_SPEED_STANDARD",
    },
    given="an order of 2 x KIT-KNIFE-1 at EUR 89.00 by customer-1 is placed, shipped to Berlin",
)
pact.event(
    PACT,
    REJECTED,
    OrderRejected,
    {
        "orderId": pact.uuid(ORDER_ID),
        "customerId": "customer-1",
        "reason": "REJECTION_REASON_PAYMENT_DECLINED",
        "version": pact.int64(2),
    },
    given="an order of 2 x KIT-KNIFE-1 by customer-1 is rejected: the card was declined",
)


async def test_notifications_tells_the_customer_about_their_order(
    service_app: ServiceApp, runtime: Runtime
) -> None:
    subscription = pact.subscribed(service_app, runtime, "notifications-orders")
    received = pact.received_events(PACT, subscription)

    confirmed = events.cause_of(received[CONFIRMED], "event-1")
    cancelled = events.cause_of(received[CANCELLED], "event-2")
    placed = events.cause_of(received[PLACED], "event-3")
    rejected = events.cause_of(received[REJECTED], "event-4")
    cancelled_while_placed = received[CANCELLED_WHILE_PLACED]
    told = events.cause_of(cancelled_while_placed, "event-5")

    assert (confirmed.customer_id, confirmed.order_id) == ("customer-1", ORDER_ID)
    assert (confirmed.topic, confirmed.values["total"]) == (Topic.ORDER_UPDATES, "EUR 183.00")
    assert (cancelled.customer_id, cancelled.order_id) == ("customer-1", ORDER_ID)
    assert cancelled.values["reason"] == " (changed my mind)"
    assert (placed.customer_id, placed.order_id) == ("customer-1", ORDER_ID)
    assert placed.purchased_skus == ("KIT-KNIFE-1",)
    assert placed.values["lines"] == "  2 x Chef's Knife (KIT-KNIFE-1)  EUR 178.00"
    assert (placed.values["total"], placed.values["shipping_speed"]) == ("EUR 183.00", "standard")
    assert placed.values["destination"] == "Berlin, DE"
    assert (rejected.customer_id, rejected.order_id) == ("customer-1", ORDER_ID)
    assert rejected.values["reason"] == "payment declined"
    assert events.worth_telling(cancelled_while_placed)
    assert (told.customer_id, told.order_id) == ("customer-1", ORDER_ID)
    assert told.values["reason"] == " (ordered twice)"


async def test_the_pact_in_the_repository_is_current() -> None:
    pact.assert_committed(PACT)
