"""Orders' pacts with the services its saga calls and whose events it reads, one pact per
provider (pacts/orders-<provider>.json): the calls are written and checked in
contract/test_orders_pact_peers.py, the events here and checked in
contract/test_orders_pact_peer_events.py. One module holds the pact objects so both add to
the same pact, whichever runs alone.

Each event names what orders reads (ids, a refund's amount, a carrier and tracking number)
and what the decoder's validation of the event requires; an id is any UUID (pact.uuid):
the provider's are its own."""

from __future__ import annotations

from chassis.testing import pact
from shop.inventory.v1.events_pb2 import ReservationRestocked
from shop.payments.v1.events_pb2 import PaymentCaptured, PaymentRefunded, PaymentVoided
from shop.shipping.v1.events_pb2 import ShipmentCancelled, ShipmentCreated, ShipmentDispatched

ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
PAYMENT_ID = "0b6e2c1d-9f3a-4e5b-8c7d-1a2b3c4d5e6f"
RESERVATION_ID = "5c3b1a29-8e7d-4f6a-b5c4-d3e2f1a0b9c8"
SHIPMENT_ID = "9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5"

CAPTURED = "a payment was captured"
VOIDED = "a payment was voided"
REFUNDED = "a payment was refunded"
SHIPMENT_CREATED = "a shipment was created"
DISPATCHED = "a shipment was dispatched"
SHIPMENT_CANCELLED = "a shipment was cancelled"
RESTOCKED = "a reservation was restocked"

PAID = "customer-1's payment of EUR 183.00 was authorized and captured"
SHIPPED = "a shipment of 2 x KIT-KNIFE-1 for customer-1's order was created"


def eur(minor: int) -> dict[str, object]:
    return {"currencyCode": "EUR", "amountMinor": pact.int64(minor)}


def payment(**more: object) -> dict[str, object]:
    return {
        "paymentId": pact.uuid(PAYMENT_ID),
        "orderId": pact.uuid(ORDER_ID),
        "customerId": "customer-1",
        **more,
    }


def shipment(**more: object) -> dict[str, object]:
    return {
        "shipmentId": pact.uuid(SHIPMENT_ID),
        "orderId": pact.uuid(ORDER_ID),
        "customerId": "customer-1",
        "version": pact.int64(1),
        **more,
    }


PAYMENTS = pact.new_pact("orders", "payments")
pact.event(
    PAYMENTS,
    CAPTURED,
    PaymentCaptured,
    payment(capturedAmount=eur(18300), authorizedAmount=eur(18300)),
    given=PAID,
    order_id=ORDER_ID,
)
pact.event(
    PAYMENTS,
    VOIDED,
    PaymentVoided,
    payment(releasedAmount=eur(18300)),
    given="customer-1's authorization of EUR 183.00 was voided",
    order_id=ORDER_ID,
)
pact.event(
    PAYMENTS,
    REFUNDED,
    PaymentRefunded,
    # the refund's amount is what the cancelled order says was refunded
    payment(refundAmount=eur(18300), totalRefundedAmount=eur(18300), capturedAmount=eur(18300)),
    given=f"{PAID}, then refunded in full",
    order_id=ORDER_ID,
)

INVENTORY = pact.new_pact("orders", "inventory")
pact.event(
    INVENTORY,
    RESTOCKED,
    ReservationRestocked,
    {
        "reservationId": pact.uuid(RESERVATION_ID),
        "orderId": pact.uuid(ORDER_ID),
        "lines": [{"sku": "KIT-KNIFE-1", "quantity": 2}],
    },
    given="a confirmed reservation of 2 x KIT-KNIFE-1 was restocked: its order was cancelled",
    order_id=ORDER_ID,
)

SHIPPING = pact.new_pact("orders", "shipping")
LINES = [{"sku": "KIT-KNIFE-1", "quantity": 2}]
pact.event(
    SHIPPING,
    SHIPMENT_CREATED,
    ShipmentCreated,
    shipment(lines=LINES),
    given=SHIPPED,
    order_id=ORDER_ID,
)
pact.event(
    SHIPPING,
    DISPATCHED,
    ShipmentDispatched,
    shipment(
        carrier=pact.match.str("DHL"),
        trackingNumber=pact.match.str("JD014600006281230704"),
        version=pact.int64(2),
    ),
    given=f"{SHIPPED}, then dispatched",
    order_id=ORDER_ID,
)
pact.event(
    SHIPPING,
    SHIPMENT_CANCELLED,
    ShipmentCancelled,
    shipment(version=pact.int64(2)),
    given=f"{SHIPPED}, then cancelled: order cancelled",
    order_id=ORDER_ID,
)
