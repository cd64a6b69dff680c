"""Example events, one per type notifications consumes, and the values tests build on."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message

from chassis.uow import UnitOfWork
from notifications.domain import PreferenceChoice, Topic
from notifications.repository import Repositories
from shop.common.v1.address_pb2 import Address
from shop.common.v1.money_pb2 import Money
from shop.inventory.v1 import events_pb2 as inventory
from shop.orders.v1 import events_pb2 as orders
from shop.orders.v1 import order_pb2
from shop.payments.v1 import events_pb2 as payments
from shop.payments.v1 import payment_pb2
from shop.shipping.v1 import events_pb2 as shipping
from shop.shipping.v1 import shipment_pb2

UnitsOfWork = Callable[[], UnitOfWork[Repositories]]

ADA = "ada"
ADA_EMAIL = "ada@example.com"
ORDER_ID = "1c1013d0-5b2a-4c8e-9f00-0000000000a1"
ORDER_REF = "1C1013D0"
PAYMENT_ID = "2d2013d0-5b2a-4c8e-9f00-0000000000b2"
SHIPMENT_ID = "3e3013d0-5b2a-4c8e-9f00-0000000000c3"
SKU = "BK-BIRDS-EUROPE"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

EMAIL_ON = PreferenceChoice(
    email_enabled=True, sms_enabled=False, email=ADA_EMAIL, phone_e164="", muted_topics=()
)


def eur(minor: int) -> Money:
    return Money(currency_code="EUR", amount_minor=minor)


def event_id() -> str:
    return str(uuid.uuid4())


def order_placed(customer_id: str = ADA, order_id: str = ORDER_ID) -> orders.OrderPlaced:
    line = order_pb2.OrderLine(
        sku=SKU, name="Birds of Europe", quantity=2, unit_price=eur(1250), line_total=eur(2500)
    )
    return orders.OrderPlaced(
        order_id=order_id,
        customer_id=customer_id,
        lines=[line],
        total=eur(2990),
        shipping_address=Address(
            recipient="Ada",
            lines=["Main St 1"],
            locality="Berlin",
            postal_code="10115",
            country_code="DE",
        ),
        shipping_speed=order_pb2.SHIPPING_SPEED_EXPRESS,
        version=1,
    )


def order_confirmed() -> orders.OrderConfirmed:
    return orders.OrderConfirmed(
        order_id=ORDER_ID,
        customer_id=ADA,
        payment_id=PAYMENT_ID,
        reservation_id=str(uuid.uuid4()),
        shipment_id=SHIPMENT_ID,
        total=eur(2990),
        version=2,
    )


def order_rejected() -> orders.OrderRejected:
    return orders.OrderRejected(
        order_id=ORDER_ID,
        customer_id=ADA,
        reason=order_pb2.REJECTION_REASON_OUT_OF_STOCK,
        version=2,
    )


def order_cancelled() -> orders.OrderCancelled:
    return orders.OrderCancelled(
        order_id=ORDER_ID,
        customer_id=ADA,
        lines=[order_pb2.OrderLine(sku=SKU, quantity=1)],
        total=eur(2990),
        reason="changed my mind",
        version=3,
    )


def order_cancellation_completed(
    payment_status: order_pb2.PaymentStatus.ValueType = order_pb2.PAYMENT_STATUS_VOIDED,
) -> orders.OrderCancellationCompleted:
    return orders.OrderCancellationCompleted(
        order_id=ORDER_ID,
        customer_id=ADA,
        payment_status=payment_status,
        refunded=eur(0),
        reason="ordered twice",
        version=4,
    )


def payment_declined() -> payments.PaymentDeclined:
    return payments.PaymentDeclined(
        payment_id=PAYMENT_ID,
        order_id=ORDER_ID,
        customer_id=ADA,
        requested_amount=eur(2990),
        decline_reason=payment_pb2.DECLINE_REASON_INSUFFICIENT_FUNDS,
    )


def payment_captured() -> payments.PaymentCaptured:
    return payments.PaymentCaptured(
        payment_id=PAYMENT_ID,
        order_id=ORDER_ID,
        customer_id=ADA,
        captured_amount=eur(2500),
        authorized_amount=eur(2990),
    )


def payment_refunded() -> payments.PaymentRefunded:
    return payments.PaymentRefunded(
        payment_id=PAYMENT_ID,
        order_id=ORDER_ID,
        customer_id=ADA,
        refund_amount=eur(1000),
        total_refunded_amount=eur(1500),
        captured_amount=eur(2500),
    )


def shipment_created() -> shipping.ShipmentCreated:
    return shipping.ShipmentCreated(
        shipment_id=SHIPMENT_ID,
        order_id=ORDER_ID,
        customer_id=ADA,
        lines=[shipment_pb2.ShipmentLine(sku=SKU, quantity=2)],
        service_level=shipment_pb2.SERVICE_LEVEL_EXPRESS,
        version=1,
    )


def shipment_dispatched(customer_id: str = ADA) -> shipping.ShipmentDispatched:
    return shipping.ShipmentDispatched(
        shipment_id=SHIPMENT_ID,
        order_id=ORDER_ID,
        customer_id=customer_id,
        carrier="DHL",
        tracking_number="JD014600006281230",
        version=2,
    )


def shipment_cancelled() -> shipping.ShipmentCancelled:
    return shipping.ShipmentCancelled(
        shipment_id=SHIPMENT_ID,
        order_id=ORDER_ID,
        customer_id=ADA,
        reason="order cancelled",
        version=2,
    )


def stock_low() -> inventory.StockLow:
    return inventory.StockLow(sku=SKU, available=2, threshold=5, version=7)


# Every consumed event type, with its topic and what its message must say.
EVERY_EVENT: list[tuple[Message, Topic, list[str]]] = [
    (order_placed(), Topic.ORDER_UPDATES, ["Birds of Europe", "EUR 29.90", "express", "Berlin"]),
    (order_confirmed(), Topic.ORDER_UPDATES, ["confirmed", "EUR 29.90"]),
    (order_rejected(), Topic.ORDER_UPDATES, ["out of stock", "Nothing was charged"]),
    (order_cancelled(), Topic.ORDER_UPDATES, ["changed my mind", "EUR 29.90"]),
    (order_cancellation_completed(), Topic.ORDER_UPDATES, ["ordered twice", "Nothing was charged"]),
    (payment_declined(), Topic.PAYMENT_UPDATES, ["insufficient funds", "EUR 29.90"]),
    (payment_captured(), Topic.PAYMENT_UPDATES, ["EUR 25.00", "remaining EUR 4.90"]),
    (payment_refunded(), Topic.PAYMENT_UPDATES, ["EUR 10.00", "EUR 15.00 of EUR 25.00"]),
    (shipment_created(), Topic.SHIPPING_UPDATES, ["2 x BK-BIRDS-EUROPE", "express"]),
    (shipment_dispatched(), Topic.SHIPPING_UPDATES, ["DHL", "JD014600006281230"]),
    (shipment_cancelled(), Topic.SHIPPING_UPDATES, ["order cancelled"]),
    (stock_low(), Topic.STOCK_ALERTS, ["BK-BIRDS-EUROPE", "only 2 left"]),
]


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
