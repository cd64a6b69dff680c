"""Conversions between the contract's messages and the domain, shared by the gRPC API and
the events."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from payments.domain import DeclineReason, Money, Payment, PaymentStatus
from shop.common.v1 import money_pb2
from shop.payments.v1 import payment_pb2

STATUSES = {
    status: payment_pb2.PaymentStatus.Value(f"PAYMENT_STATUS_{status.value}")
    for status in PaymentStatus
}
DECLINE_REASONS = {
    reason: payment_pb2.DeclineReason.Value(f"DECLINE_REASON_{reason.value}")
    for reason in DeclineReason
}


def money_to_proto(money: Money) -> money_pb2.Money:
    return money_pb2.Money(currency_code=money.currency, amount_minor=money.amount_minor)


def money_from_proto(message: money_pb2.Money) -> Money:
    return Money(message.currency_code, message.amount_minor)


def decline_reason_to_proto(reason: DeclineReason | None) -> payment_pb2.DeclineReason.ValueType:
    return payment_pb2.DECLINE_REASON_UNSPECIFIED if reason is None else DECLINE_REASONS[reason]


def payment_to_proto(payment: Payment) -> payment_pb2.Payment:
    return payment_pb2.Payment(
        payment_id=payment.payment_id,
        order_id=payment.order_id,
        customer_id=payment.customer_id,
        status=STATUSES[payment.status],
        authorized_amount=money_to_proto(payment.authorized),
        captured_amount=money_to_proto(payment.captured),
        refunded_amount=money_to_proto(payment.refunded),
        decline_reason=decline_reason_to_proto(payment.decline_reason),
        create_time=_timestamp(payment.created_at),
        update_time=_timestamp(payment.updated_at),
        version=payment.version,
    )


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
