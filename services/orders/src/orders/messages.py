"""Contract messages <-> domain values."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from orders.domain import Address, CartLine, Money, Order, OrderLine, PlaceOrder, ShippingSpeed
from orders.history import Entry
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


def line_from_proto(line: order_pb2.OrderLine) -> OrderLine:
    price = Money(line.unit_price.currency_code, line.unit_price.amount_minor)
    return OrderLine(line.sku, line.name, line.quantity, price)


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
        payment_status=order_pb2.PaymentStatus.ValueType(int(order.payment_status)),
        delivery_status=order_pb2.DeliveryStatus.ValueType(int(order.delivery_status)),
        cancel_requested=saga.cancel_requested if saga else False,
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


def entry_to_proto(entry: Entry) -> order_pb2.Order:
    """An order as the history shows it: no saga steps, no rejection detail, and the
    subtotal and shipping cost only once its lines and total are known."""
    message = order_pb2.Order(
        order_id=entry.order_id,
        customer_id=entry.customer_id,
        status=order_pb2.OrderStatus.ValueType(int(entry.status)),
        lines=[line_to_proto(line) for line in entry.lines],
        rejection_reason=order_pb2.RejectionReason.ValueType(int(entry.rejection_reason or 0)),
        payment_id=entry.payment_id,
        shipment_id=entry.shipment_id,
        carrier=entry.carrier,
        tracking_number=entry.tracking_number,
        cancel_reason=entry.cancel_reason,
        create_time=_timestamp(entry.created_at),
        update_time=_timestamp(entry.updated_at),
        version=entry.version,
        payment_status=order_pb2.PaymentStatus.ValueType(int(entry.payment_status)),
        delivery_status=order_pb2.DeliveryStatus.ValueType(int(entry.delivery_status)),
    )
    if entry.address is not None:
        message.shipping_address.CopyFrom(address_to_proto(entry.address))
    if entry.speed is not None:
        message.shipping_speed = order_pb2.ShippingSpeed.ValueType(int(entry.speed))
    if entry.total is not None:
        message.total.CopyFrom(money_to_proto(entry.total))
        if entry.lines:
            subtotal = Money(
                entry.total.currency, sum(line.line_total.minor for line in entry.lines)
            )
            message.subtotal.CopyFrom(money_to_proto(subtotal))
            shipping = Money(entry.total.currency, entry.total.minor - subtotal.minor)
            message.shipping_cost.CopyFrom(money_to_proto(shipping))
    return message
