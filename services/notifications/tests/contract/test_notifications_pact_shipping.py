"""What notifications needs of shipping's events (its pact
pacts/notifications-shipping.json): whom to tell about which order, what ships at which
service level, by which carrier and tracking number it left, and why a shipment was
cancelled. Each message goes through the chassis's
decoder as notifications' subscription receives it, then through notifications' reading
of it (events.cause_of)."""

from __future__ import annotations

import pytest

from chassis.app import Runtime, ServiceApp
from chassis.testing import pact
from notifications import events
from shop.shipping.v1.events_pb2 import ShipmentCancelled, ShipmentCreated, ShipmentDispatched

pytestmark = pytest.mark.anyio

PACT = pact.new_pact("notifications", "shipping")
CREATED = "a shipment was created"
CANCELLED = "a shipment was cancelled"
DISPATCHED = "a shipment was dispatched"
ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
ABOUT_THE_ORDER = {
    "orderId": pact.uuid(ORDER_ID),
    "customerId": "customer-1",
    # what the decoder's validation needs
    "shipmentId": pact.uuid("9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5"),
    "version": pact.int64(1),
}
SHIPPED = "a shipment of 2 x KIT-KNIFE-1 for customer-1's order was created"
pact.event(
    PACT,
    CREATED,
    ShipmentCreated,
    {
        **ABOUT_THE_ORDER,
        "lines": [{"sku": "KIT-KNIFE-1", "quantity": 2}],
        "serviceLevel": "SERVICE_LEVEL_STANDARD",
    },
    given=SHIPPED,
    order_id=ORDER_ID,
)
pact.event(
    PACT,
    CANCELLED,
    ShipmentCancelled,
    {**ABOUT_THE_ORDER, "reason": "order cancelled"},
    given=f"{SHIPPED}, then cancelled: order cancelled",
    order_id=ORDER_ID,
)
pact.event(
    PACT,
    DISPATCHED,
    ShipmentDispatched,
    {
        **ABOUT_THE_ORDER,
        "carrier": pact.match.str("DHL"),
        "trackingNumber": pact.match.str("JD014600006281230704"),
    },
    given=f"{SHIPPED}, then dispatched",
    order_id=ORDER_ID,
)


async def test_notifications_tells_the_customer_about_their_shipment(
    service_app: ServiceApp, runtime: Runtime
) -> None:
    subscription = pact.subscribed(service_app, runtime, "notifications-shipping")
    received = pact.received_events(PACT, subscription)

    created = events.cause_of(received[CREATED], "event-1")
    cancelled = events.cause_of(received[CANCELLED], "event-2")
    dispatched = events.cause_of(received[DISPATCHED], "event-3")

    assert (created.customer_id, created.order_id) == ("customer-1", ORDER_ID)
    assert created.values["lines"] == "  2 x KIT-KNIFE-1"
    assert created.values["service_level"] == "standard"
    assert cancelled.values["reason"] == " (order cancelled)"
    assert (dispatched.customer_id, dispatched.order_id) == ("customer-1", ORDER_ID)
    assert (dispatched.values["carrier"], dispatched.values["tracking_number"]) == (
        "DHL",
        "JD014600006281230704",
    )


async def test_the_pact_in_the_repository_is_current() -> None:
    pact.assert_committed(PACT)
