"""What payments publishes, one event per change (PaymentAuthorized, PaymentDeclined,
PaymentCaptured, PaymentVoided, PaymentRefunded), each about the payment
(`payments/<payment_id>`); and what it consumes: OrderCancelled, as the domain's
OrderCancellation. Where events are published is declared in the contracts (events.proto).
"""

from __future__ import annotations

from google.protobuf.message import Message

from payments.domain import (
    Authorized,
    Captured,
    Change,
    Declined,
    OrderCancellation,
    Refunded,
    Voided,
)
from payments.messages import decline_reason_to_proto, money_from_proto, money_to_proto
from shop.orders.v1 import events_pb2 as orders_events
from shop.payments.v1 import events_pb2


def event_for(change: Change) -> Message:
    payment = change.payment
    match change:
        case Authorized():
            return events_pb2.PaymentAuthorized(
                payment_id=payment.payment_id,
                order_id=payment.order_id,
                customer_id=payment.customer_id,
                authorized_amount=money_to_proto(payment.authorized),
            )
        case Declined():
            return events_pb2.PaymentDeclined(
                payment_id=payment.payment_id,
                order_id=payment.order_id,
                customer_id=payment.customer_id,
                requested_amount=money_to_proto(payment.authorized),
                decline_reason=decline_reason_to_proto(payment.decline_reason),
            )
        case Captured():
            return events_pb2.PaymentCaptured(
                payment_id=payment.payment_id,
                order_id=payment.order_id,
                customer_id=payment.customer_id,
                captured_amount=money_to_proto(payment.captured),
                authorized_amount=money_to_proto(payment.authorized),
            )
        case Voided(reason=reason):
            return events_pb2.PaymentVoided(
                payment_id=payment.payment_id,
                order_id=payment.order_id,
                customer_id=payment.customer_id,
                released_amount=money_to_proto(payment.authorized),
                reason=reason,
            )
        case Refunded(amount=amount, reason=reason):
            return events_pb2.PaymentRefunded(
                payment_id=payment.payment_id,
                order_id=payment.order_id,
                customer_id=payment.customer_id,
                refund_amount=money_to_proto(amount),
                total_refunded_amount=money_to_proto(payment.refunded),
                captured_amount=money_to_proto(payment.captured),
                reason=reason,
            )


def order_cancellation(event: orders_events.OrderCancelled) -> OrderCancellation:
    """The part of OrderCancelled that payments acts on (service.refund_or_void_cancelled_order)."""
    return OrderCancellation(
        order_id=event.order_id,
        payment_id=event.payment_id or None,
        total=money_from_proto(event.total),  # required by the contract's validation
        reason=event.reason,
    )
