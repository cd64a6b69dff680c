"""What orders consumes besides catalog prices (prices.py): one durable subscription per
context, each handler one unit of work with the delivery's key claimed (the inbox).

- `orders-order-history`: orders' own order events -> the order history.
- `orders-payment-events`: PaymentCaptured, PaymentVoided, PaymentRefunded -> the order
  history's payment status; a refund or void is also a cancellation's outcome.
- `orders-shipping-events`: ShipmentCreated, ShipmentDispatched, ShipmentCancelled -> the
  history's delivery status; a cancel is also a cancellation's outcome.
- `orders-inventory-events`: ReservationRestocked -> a cancellation's outcome.

A CANCELLING order becomes CANCELLED once it has a payment, a stock and a shipment outcome
(service._record_undone); events about orders that are not cancelling (a saga's own
compensations publish the same events) or unknown to orders change nothing and are acked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chassis.consumer import Delivery, Subscription
from orders import events, service
from orders.service import Clock, UoW, utc_now
from shop.inventory.v1.events_pb2 import ReservationRestocked


def _time(delivery: Delivery) -> datetime:
    """When the event's change was committed (the envelope's CloudEvents time)."""
    return delivery.envelope.time.ToDatetime(tzinfo=UTC)


def subscriptions(unit_of_work: UoW, clock: Clock = utc_now) -> list[Subscription[Any]]:
    async def on_order(event: events.OrderEvent, delivery: Delivery) -> None:
        fact = events.order_fact(event, _time(delivery))
        await service.on_order_event(unit_of_work, event_key=delivery.key, fact=fact)

    async def on_payment(event: events.PaymentEvent, delivery: Delivery) -> None:
        await service.on_payment_event(
            unit_of_work,
            event_key=delivery.key,
            fact=events.payment_fact(event, _time(delivery)),
            undone=events.payment_undone(event),
            clock=clock,
        )

    async def on_shipment(event: events.ShipmentEvent, delivery: Delivery) -> None:
        fact = events.delivery_fact(event, _time(delivery))
        await service.on_shipment_event(
            unit_of_work, event_key=delivery.key, fact=fact, clock=clock
        )

    async def on_restocked(event: ReservationRestocked, delivery: Delivery) -> None:
        await service.on_restocked(
            unit_of_work, event_key=delivery.key, order_id=event.order_id, clock=clock
        )

    return [
        Subscription("orders-order-history", list(events.ORDER_EVENTS), on_order),
        Subscription("orders-payment-events", list(events.PAYMENT_EVENTS), on_payment),
        Subscription("orders-shipping-events", list(events.SHIPMENT_EVENTS), on_shipment),
        Subscription("orders-inventory-events", [ReservationRestocked], on_restocked),
    ]
