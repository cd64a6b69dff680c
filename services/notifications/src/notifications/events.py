"""The events notifications consumes, as the Causes it tells customers about, and the one it
publishes (NotificationSent). One template per consumed event type, named after it.

Consumed, one subscription per context (chassis.consumer): orders' OrderPlaced,
OrderConfirmed, OrderRejected, OrderCancelled, OrderCancellationCompleted (told only
after a cancel the saga honoured while placing: a confirmed order's cancellation was told
by OrderCancelled and its refund by PaymentRefunded); payments' PaymentDeclined, PaymentCaptured,
PaymentRefunded (authorizations and voids are saga steps the customer hears about through
the order); shipping's ShipmentCreated, ShipmentDispatched, ShipmentCancelled; inventory's
StockLow (reservations are saga steps too, and carry no customer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from google.protobuf.message import Message

from notifications.domain import Cause, Notification, Topic
from notifications.messages import CHANNEL_TO_PROTO, TOPIC_TO_PROTO
from shop.common.v1.money_pb2 import Money
from shop.inventory.v1 import events_pb2 as inventory
from shop.notifications.v1.events_pb2 import NotificationSent
from shop.orders.v1 import events_pb2 as orders
from shop.orders.v1 import order_pb2
from shop.payments.v1 import events_pb2 as payments
from shop.payments.v1 import payment_pb2
from shop.shipping.v1 import events_pb2 as shipping
from shop.shipping.v1 import shipment_pb2

ORDER_EVENTS: list[type[Message]] = [
    orders.OrderPlaced,
    orders.OrderConfirmed,
    orders.OrderRejected,
    orders.OrderCancelled,
    orders.OrderCancellationCompleted,
]
PAYMENT_EVENTS: list[type[Message]] = [
    payments.PaymentDeclined,
    payments.PaymentCaptured,
    payments.PaymentRefunded,
]
SHIPPING_EVENTS: list[type[Message]] = [
    shipping.ShipmentCreated,
    shipping.ShipmentDispatched,
    shipping.ShipmentCancelled,
]
STOCK_EVENTS: list[type[Message]] = [inventory.StockLow]

# Currencies whose minor unit is not a hundredth (of those the contract allows).
_MINOR_DIGITS = {"JPY": 0}


def worth_telling(event: Message) -> bool:
    """Whether `event` tells the customer something no other event told them."""
    if isinstance(event, orders.OrderCancellationCompleted):
        # a confirmed order's: OrderCancelled and PaymentRefunded told it all
        return event.payment_status != order_pb2.PAYMENT_STATUS_REFUNDED
    return True


def cause_of(event: Message, event_id: str) -> Cause:
    """What the customer is told about `event` (whose CloudEvents id is `event_id`)."""
    describe = _DESCRIBE.get(type(event))
    if describe is None:
        raise TypeError(f"notifications has nothing to say about {type(event).__name__}")
    return describe(event, event_id)


def notification_sent(notification: Notification) -> NotificationSent:
    return NotificationSent(
        notification_id=notification.notification_id,
        customer_id=notification.customer_id,
        channel=CHANNEL_TO_PROTO[notification.channel],
        topic=TOPIC_TO_PROTO[notification.topic],
        cause_event_id=notification.cause_event_id,
        order_id=notification.order_id,
    )


# --- formatting ---------------------------------------------------------------------------


def money(amount: Money) -> str:
    """ "EUR 12.50", "JPY 1200"."""
    digits = _MINOR_DIGITS.get(amount.currency_code, 2)
    if digits == 0:
        return f"{amount.currency_code} {amount.amount_minor}"
    whole, minor = divmod(amount.amount_minor, 10**digits)
    return f"{amount.currency_code} {whole}.{minor:0{digits}d}"


def order_ref(order_id: str) -> str:
    """How the customer sees an order: the first block of its id, as in the shop's pages."""
    return order_id.split("-", maxsplit=1)[0].upper()


def _words(enum_name: str, prefix: str) -> str:
    """DECLINE_REASON_INSUFFICIENT_FUNDS -> "insufficient funds"."""
    return enum_name.removeprefix(prefix).replace("_", " ").lower()


def _because(reason: str) -> str:
    return f" ({reason})" if reason else ""


def _order_lines(lines: Iterable[order_pb2.OrderLine]) -> str:
    return "\n".join(
        f"  {line.quantity} x {line.name or line.sku} ({line.sku})  {money(line.line_total)}"
        for line in lines
    )


# --- one description per consumed event type --------------------------------------------


def _order_placed(event: orders.OrderPlaced, event_id: str) -> Cause:
    address = event.shipping_address
    return Cause(
        event_id=event_id,
        template="order_placed",
        topic=Topic.ORDER_UPDATES,
        customer_id=event.customer_id,
        order_id=event.order_id,
        purchased_skus=tuple(sorted({line.sku for line in event.lines})),
        values={
            "order_ref": order_ref(event.order_id),
            "lines": _order_lines(event.lines),
            "total": money(event.total),
            "shipping_speed": _words(
                order_pb2.ShippingSpeed.Name(event.shipping_speed), "SHIPPING_SPEED_"
            ).replace("unspecified", "standard"),
            "destination": f"{address.locality}, {address.country_code}",
        },
    )


def _order_confirmed(event: orders.OrderConfirmed, event_id: str) -> Cause:
    return _about_order(
        event, event_id, "order_confirmed", Topic.ORDER_UPDATES, total=money(event.total)
    )


def _order_rejected(event: orders.OrderRejected, event_id: str) -> Cause:
    reason = _words(order_pb2.RejectionReason.Name(event.reason), "REJECTION_REASON_")
    return _about_order(event, event_id, "order_rejected", Topic.ORDER_UPDATES, reason=reason)


def _order_cancelled(event: orders.OrderCancelled, event_id: str) -> Cause:
    return _about_order(
        event,
        event_id,
        "order_cancelled",
        Topic.ORDER_UPDATES,
        total=money(event.total),
        reason=_because(event.reason),
    )


def _order_cancellation_completed(event: orders.OrderCancellationCompleted, event_id: str) -> Cause:
    return _about_order(
        event,
        event_id,
        "order_cancellation_completed",
        Topic.ORDER_UPDATES,
        reason=_because(event.reason),
    )


def _payment_declined(event: payments.PaymentDeclined, event_id: str) -> Cause:
    reason = _words(payment_pb2.DeclineReason.Name(event.decline_reason), "DECLINE_REASON_")
    return _about_order(
        event,
        event_id,
        "payment_declined",
        Topic.PAYMENT_UPDATES,
        amount=money(event.requested_amount),
        reason=reason,
    )


def _payment_captured(event: payments.PaymentCaptured, event_id: str) -> Cause:
    released = event.authorized_amount.amount_minor - event.captured_amount.amount_minor
    note = ""
    if released > 0:
        rest = Money(currency_code=event.captured_amount.currency_code, amount_minor=released)
        note = f" The remaining {money(rest)} held on your card was released."
    return _about_order(
        event,
        event_id,
        "payment_captured",
        Topic.PAYMENT_UPDATES,
        amount=money(event.captured_amount),
        released=note,
    )


def _payment_refunded(event: payments.PaymentRefunded, event_id: str) -> Cause:
    return _about_order(
        event,
        event_id,
        "payment_refunded",
        Topic.PAYMENT_UPDATES,
        amount=money(event.refund_amount),
        total_refunded=money(event.total_refunded_amount),
        captured=money(event.captured_amount),
    )


def _shipment_created(event: shipping.ShipmentCreated, event_id: str) -> Cause:
    level = _words(shipment_pb2.ServiceLevel.Name(event.service_level), "SERVICE_LEVEL_")
    lines = "\n".join(f"  {line.quantity} x {line.sku}" for line in event.lines)
    return _about_order(
        event,
        event_id,
        "shipment_created",
        Topic.SHIPPING_UPDATES,
        service_level=level.replace("unspecified", "standard"),
        lines=lines,
    )


def _shipment_dispatched(event: shipping.ShipmentDispatched, event_id: str) -> Cause:
    return _about_order(
        event,
        event_id,
        "shipment_dispatched",
        Topic.SHIPPING_UPDATES,
        carrier=event.carrier,
        tracking_number=event.tracking_number,
    )


def _shipment_cancelled(event: shipping.ShipmentCancelled, event_id: str) -> Cause:
    return _about_order(
        event,
        event_id,
        "shipment_cancelled",
        Topic.SHIPPING_UPDATES,
        reason=_because(event.reason),
    )


def _stock_low(event: inventory.StockLow, event_id: str) -> Cause:
    return Cause(
        event_id=event_id,
        template="stock_low",
        topic=Topic.STOCK_ALERTS,
        about_sku=event.sku,
        values={"sku": event.sku, "available": str(event.available)},
    )


def _about_order(event: Any, event_id: str, template: str, topic: Topic, **values: str) -> Cause:
    """A Cause addressed to the event's customer about its order (every order, payment and
    shipping event carries both)."""
    filled: Mapping[str, str] = {"order_ref": order_ref(event.order_id), **values}
    return Cause(
        event_id=event_id,
        template=template,
        topic=topic,
        customer_id=event.customer_id,
        order_id=event.order_id,
        values=filled,
    )


_DESCRIBE: dict[type[Message], Callable[[Any, str], Cause]] = {
    orders.OrderPlaced: _order_placed,
    orders.OrderConfirmed: _order_confirmed,
    orders.OrderRejected: _order_rejected,
    orders.OrderCancelled: _order_cancelled,
    orders.OrderCancellationCompleted: _order_cancellation_completed,
    payments.PaymentDeclined: _payment_declined,
    payments.PaymentCaptured: _payment_captured,
    payments.PaymentRefunded: _payment_refunded,
    shipping.ShipmentCreated: _shipment_created,
    shipping.ShipmentDispatched: _shipment_dispatched,
    shipping.ShipmentCancelled: _shipment_cancelled,
    inventory.StockLow: _stock_low,
}
