"""The subscriptions: one per context notifications listens to (chassis.consumer), each
turning an event into a Cause and recording its notifications in the unit of work that
claims the delivery's key, so a redelivered event records (and sends) nothing more."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from google.protobuf.message import Message

from chassis.consumer import Delivery, Subscription
from chassis.uow import UnitOfWork
from notifications import events, service
from notifications.domain import Channel
from notifications.repository import Repositories


def subscriptions(
    unit_of_work: Callable[[], UnitOfWork[Repositories]],
    *,
    channels: Sequence[Channel],
    clock: service.Clock = service.utc_now,
) -> list[Subscription[Message]]:
    async def handle(event: Message, delivery: Delivery) -> None:
        if not events.worth_telling(event):
            return  # acknowledged: nothing new to tell
        cause = events.cause_of(event, delivery.envelope.id)
        await service.record_notifications(
            unit_of_work(),
            delivery_key=delivery.key,
            cause=cause,
            channels=channels,
            clock=clock,
        )

    return [
        Subscription("notifications-orders", events.ORDER_EVENTS, handle),
        Subscription("notifications-payments", events.PAYMENT_EVENTS, handle),
        Subscription("notifications-shipping", events.SHIPPING_EVENTS, handle),
        Subscription("notifications-stock", events.STOCK_EVENTS, handle),
    ]
