"""Contract messages <-> domain values."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from orders.domain import Address, CartLine, Money, Order, OrderLine, PlaceOrder, ShippingSpeed
from orders.saga import Saga
from shop.common.v1 import address_pb2, money_pb2
from shop.orders.v1 import order_pb2
from shop.orders.v1 import orders_service_pb2 as pb


def money_to_proto(money: Money) -> money_pb2.Money:
    return money_pb2.Money(currency_code=money.currency, amount_minor=money.minor)


def address_to_proto(address: Address) -> address_pb2.Address:
    return address_pb2.Address(
        recipient=address.recipient,
        lines=list(address.lines),
        locality=address.locality,
        region=address.region,
        postal_code=address.postal_code,
        country_code=address.country_code,
    )


def address_from_proto(address: address_pb2.Address) -> Address:
    return Address(
        address.recipient,
        tuple(address.lines),
        address.locality,
        address.region,
        address.postal_code,
        address.country_code,
    )


def line_to_proto(line: OrderLine) -> order_pb2.OrderLine:
    return order_pb2.OrderLine(
        sku=line.sku,
        name=line.name,
        quantity=line.quantity,
        unit_price=money_to_proto(line.unit_price),
        line_total=money_to_proto(line.line_total),
    )


def place_order_from_proto(request: pb.PlaceOrderRequest, customer_id: str) -> PlaceOrder:
    expected = None
    if request.HasField("expected_total"):
        expected = Money(request.expected_total.currency_code, request.expected_total.amount_minor)
    return PlaceOrder(
        customer_id=customer_id,
        lines=tuple(CartLine(line.sku, line.quantity) for line in request.lines),
        address=address_from_proto(request.shipping_address),
        speed=ShippingSpeed(request.shipping_speed),
        currency=request.currency_code,
        payment_token=request.payment_token,
        expected_total=expected,
    )


def _timestamp(value: object) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)  # type: ignore[arg-type]
    return stamp


def order_to_proto(order: Order, saga: Saga | None) -> order_pb2.Order:
    message = order_pb2.Order(
        order_id=order.order_id,
        customer_id=order.customer_id,
        status=order_pb2.OrderStatus.ValueType(int(order.status)),
        lines=[line_to_proto(line) for line in order.lines],
        subtotal=money_to_proto(order.subtotal),
        shipping_cost=money_to_proto(order.shipping_cost),
        total=money_to_proto(order.total),
        shipping_address=address_to_proto(order.address),
        shipping_speed=order_pb2.ShippingSpeed.ValueType(int(order.speed)),
        rejection_reason=order_pb2.RejectionReason.ValueType(int(order.rejection_reason or 0)),
        rejection_detail=order.rejection_detail,
        payment_id=order.payment_id,
        reservation_id=order.reservation_id,
        shipment_id=order.shipment_id,
        cancel_reason=order.cancel_reason,
        create_time=_timestamp(order.created_at),
        update_time=_timestamp(order.updated_at),
        version=order.version,
    )
    for record in saga.steps if saga else ():
        message.saga_steps.append(
            order_pb2.SagaStep(
                kind=order_pb2.SagaStepKind.ValueType(int(record.kind)),
                state=order_pb2.SagaStepState.ValueType(int(record.state)),
                attempts=record.attempts,
                last_error=record.last_error,
                update_time=_timestamp(record.updated_at),
            )
        )
    return message
