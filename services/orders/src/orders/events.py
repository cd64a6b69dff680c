"""What orders publishes (the contract's order events) and reads of what it consumes
(catalog's product events, for the price read model)."""

from __future__ import annotations

from orders.domain import CatalogPrice, Money, Order
from orders.messages import address_to_proto, line_to_proto, money_to_proto
from orders.saga import Saga
from shop.catalog.v1.events_pb2 import PriceChanged, ProductUpserted
from shop.orders.v1 import events_pb2, order_pb2


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
