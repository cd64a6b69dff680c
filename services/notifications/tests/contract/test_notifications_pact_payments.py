"""What notifications needs of payments' events (its pact pacts/notifications-payments.json):
whom to tell about which order, how much (captured, refunded), and why a card was
declined. Each message goes through the chassis's decoder as notifications' subscription
receives it, then through notifications' reading of it (events.cause_of)."""

from __future__ import annotations

import pytest

from chassis.app import Runtime, ServiceApp
from chassis.testing import pact
from notifications import events
from shop.payments.v1.events_pb2 import PaymentCaptured, PaymentDeclined, PaymentRefunded

pytestmark = pytest.mark.anyio

PACT = pact.new_pact("notifications", "payments")
DECLINED = "a card was declined"
CAPTURED = "a payment was captured"
REFUNDED = "a payment was refunded"
PAID = "customer-1's payment of EUR 183.00 was authorized and captured"
ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
EUR_183 = {"currencyCode": "EUR", "amountMinor": pact.int64(18300)}
ABOUT_THE_ORDER = {
    "orderId": pact.uuid(ORDER_ID),
    "customerId": "customer-1",
    "paymentId": pact.uuid("0b6e2c1d-9f3a-4e5b-8c7d-1a2b3c4d5e6f"),  # validation
}
pact.event(
    PACT,
    DECLINED,
    PaymentDeclined,
    {
        **ABOUT_THE_ORDER,
        "requestedAmount": EUR_183,
        "declineReason": "DECLINE_REASON_INSUFFICIENT_FUNDS",
    },
    given="customer-1's card tok_insufficient_funds was declined for EUR 183.00",
    order_id=ORDER_ID,
)
pact.event(
    PACT,
    CAPTURED,
    PaymentCaptured,
    {**ABOUT_THE_ORDER, "capturedAmount": EUR_183, "authorizedAmount": EUR_183},
    given=PAID,
    order_id=ORDER_ID,
)
pact.event(
    PACT,
    REFUNDED,
    PaymentRefunded,
    {
        **ABOUT_THE_ORDER,
        "refundAmount": EUR_183,
        "totalRefundedAmount": EUR_183,
        "capturedAmount": EUR_183,
    },
    given=f"{PAID}, then refunded in full",
    order_id=ORDER_ID,
)


async def test_notifications_tells_the_customer_about_their_payment(
    service_app: ServiceApp, runtime: Runtime
) -> None:
    subscription = pact.subscribed(service_app, runtime, "notifications-payments")
    received = pact.received_events(PACT, subscription)

    declined = events.cause_of(received[DECLINED], "event-1")
    captured = events.cause_of(received[CAPTURED], "event-2")
    refunded = events.cause_of(received[REFUNDED], "event-3")

    assert (declined.customer_id, declined.order_id) == ("customer-1", ORDER_ID)
    assert declined.values["amount"] == "EUR 183.00"
    assert declined.values["reason"] == "insufficient funds"
    assert (captured.customer_id, captured.order_id) == ("customer-1", ORDER_ID)
    assert (captured.values["amount"], captured.values["released"]) == ("EUR 183.00", "")
    assert (refunded.customer_id, refunded.order_id) == ("customer-1", ORDER_ID)
    assert [refunded.values[k] for k in ("amount", "total_refunded", "captured")] == [
        "EUR 183.00"
    ] * 3


async def test_the_pact_in_the_repository_is_current() -> None:
    pact.assert_committed(PACT)
