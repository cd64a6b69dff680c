"""What orders publishes (the contract's order events) and reads of what it consumes:
catalog's product events (the price read model); payments', inventory's and shipping's
outcomes of a cancellation; and, for the order history, its own order events and
payments' and shipping's."""

from __future__ import annotations

from datetime import datetime

from orders.domain import (
    CatalogPrice,
    DeliveryStatus,
    Money,
    Order,
    OrderStatus,
    PaymentStatus,
    RejectionReason,
    ShippingSpeed,
    Undone,
)
from orders.history import DeliveryFact, OrderFact, PaymentFact
from orders.messages import (
    address_from_proto,
    address_to_proto,
    line_from_proto,
    line_to_proto,
    money_to_proto,
)
from orders.saga import Saga
from shop.catalog.v1.events_pb2 import PriceChanged, ProductUpserted
from shop.orders.v1 import events_pb2, order_pb2
from shop.payments.v1.events_pb2 import PaymentCaptured, PaymentRefunded, PaymentVoided
from shop.shipping.v1.events_pb2 import ShipmentCancelled, ShipmentCreated, ShipmentDispatched

OrderEvent = (
    events_pb2.OrderPlaced
    | events_pb2.OrderConfirmed
    | events_pb2.OrderRejected
    | events_pb2.OrderCancelled
    | events_pb2.OrderCancellationCompleted
)
ORDER_EVENTS = (
    events_pb2.OrderPlaced,
    events_pb2.OrderConfirmed,
    events_pb2.OrderRejected,
    events_pb2.OrderCancelled,
    events_pb2.OrderCancellationCompleted,
)
PaymentEvent = PaymentCaptured | PaymentVoided | PaymentRefunded
PAYMENT_EVENTS = (PaymentCaptured, PaymentVoided, PaymentRefunded)
ShipmentEvent = ShipmentCreated | ShipmentDispatched | ShipmentCancelled
SHIPMENT_EVENTS = (ShipmentCreated, ShipmentDispatched, ShipmentCancelled)


def placed(order: Order) -> events_pb2.OrderPlaced:
    return events_pb2.OrderPlaced(
        order_id=order.order_id,
        customer_id=order.customer_id,
        lines=[line_to_proto(line) for line in order.lines],
        total=money_to_proto(order.total),
        shipping_address=address_to_proto(order.address),
        shipping_speed=order_pb2.ShippingSpeed.ValueType(int(order.speed)),
        version=order.version,
    )


def confirmed(order: Order) -> events_pb2.OrderConfirmed:
    return events_pb2.OrderConfirmed(
        order_id=order.order_id,
        customer_id=order.customer_id,
        payment_id=order.payment_id,
        reservation_id=order.reservation_id,
        shipment_id=order.shipment_id,
        total=money_to_proto(order.total),
        version=order.version,
    )


def rejected(order: Order, saga: Saga) -> events_pb2.OrderRejected:
    assert order.rejection_reason is not None
    return events_pb2.OrderRejected(
        order_id=order.order_id,
        customer_id=order.customer_id,
        reason=order_pb2.RejectionReason.ValueType(int(order.rejection_reason)),
        detail=saga.detail,
        version=order.version,
    )


def cancelled(order: Order) -> events_pb2.OrderCancelled:
    return events_pb2.OrderCancelled(
        order_id=order.order_id,
        customer_id=order.customer_id,
        payment_id=order.payment_id,
        reservation_id=order.reservation_id,
        shipment_id=order.shipment_id,
        lines=[line_to_proto(line) for line in order.lines],
        total=money_to_proto(order.total),
        reason=order.cancel_reason,
        version=order.version,
    )


def price_of_product(event: ProductUpserted) -> CatalogPrice:
    product = event.product
    price = Money(product.price.currency_code, product.price.amount_minor)
    return CatalogPrice(product.sku, product.name, price, product.version)


def new_price(event: PriceChanged) -> tuple[str, Money, int]:
    price = Money(event.new_price.currency_code, event.new_price.amount_minor)
    return event.sku, price, event.version


def cancellation_completed(order: Order) -> events_pb2.OrderCancellationCompleted:
    refunded = Money(order.total.currency, order.refunded_minor)
    return events_pb2.OrderCancellationCompleted(
        order_id=order.order_id,
        customer_id=order.customer_id,
        payment_status=order_pb2.PaymentStatus.ValueType(int(order.payment_undone)),
        refunded=money_to_proto(refunded),
        reason=order.cancel_reason,
        version=order.version,
    )


def _money(message: object) -> Money:
    return Money(message.currency_code, message.amount_minor)  # type: ignore[attr-defined]


def order_fact(event: OrderEvent, at: datetime) -> OrderFact:
    """What one of orders' own events tells the order history."""
    match event:
        case events_pb2.OrderPlaced():
            return OrderFact(
                event.order_id,
                event.customer_id,
                event.version,
                OrderStatus.PENDING,
                at,
                total=_money(event.total),
                lines=tuple(line_from_proto(line) for line in event.lines),
                address=address_from_proto(event.shipping_address),
                speed=ShippingSpeed(event.shipping_speed),
            )
        case events_pb2.OrderConfirmed():
            return OrderFact(
                event.order_id,
                event.customer_id,
                event.version,
                OrderStatus.CONFIRMED,
                at,
                total=_money(event.total),
                payment_id=event.payment_id,
                shipment_id=event.shipment_id,
            )
        case events_pb2.OrderRejected():
            return OrderFact(
                event.order_id,
                event.customer_id,
                event.version,
                OrderStatus.REJECTED,
                at,
                rejection_reason=RejectionReason(event.reason),
            )
        case events_pb2.OrderCancelled():
            return OrderFact(
                event.order_id,
                event.customer_id,
                event.version,
                OrderStatus.CANCELLING,
                at,
                total=_money(event.total),
                lines=tuple(line_from_proto(line) for line in event.lines),
                cancel_reason=event.reason,
                payment_id=event.payment_id,
                shipment_id=event.shipment_id,
            )
        case events_pb2.OrderCancellationCompleted():
            return OrderFact(
                event.order_id,
                event.customer_id,
                event.version,
                OrderStatus.CANCELLED,
                at,
                cancel_reason=event.reason,
            )
    raise TypeError(f"not an order event: {type(event).__name__}")


PAYMENT_STATUS = {
    PaymentCaptured: PaymentStatus.CAPTURED,
    PaymentVoided: PaymentStatus.VOIDED,
    PaymentRefunded: PaymentStatus.REFUNDED,
}


def payment_fact(event: PaymentEvent, at: datetime) -> PaymentFact:
    return PaymentFact(event.order_id, event.payment_id, PAYMENT_STATUS[type(event)], at)


def payment_undone(event: PaymentEvent) -> tuple[Undone, int] | None:
    """A payment outcome a cancelling order waits for (and what was refunded), if any."""
    match event:
        case PaymentRefunded():
            return Undone.PAYMENT_REFUNDED, event.refund_amount.amount_minor
        case PaymentVoided():
            return Undone.PAYMENT_VOIDED, 0
    return None


def delivery_fact(event: ShipmentEvent, at: datetime) -> DeliveryFact:
    match event:
        case ShipmentCreated():
            status = DeliveryStatus.CREATED
        case ShipmentDispatched():
            return DeliveryFact(
                event.order_id,
                event.shipment_id,
                DeliveryStatus.DISPATCHED,
                at,
                carrier=event.carrier,
                tracking_number=event.tracking_number,
            )
        case ShipmentCancelled():
            status = DeliveryStatus.CANCELLED
    return DeliveryFact(event.order_id, event.shipment_id, status, at)
