"""What inventory publishes (events.proto; where each goes is declared there):

- StockReserved, ReservationConfirmed and ReservationReleased, about the reservation
  (`reservations/<reservation_id>`), one per status change; ReservationReleased's reason
  says who ended it: SAGA_COMPENSATION (ReleaseReservation), ORDER_CANCELLED
  (OrderCancelled while PENDING) or EXPIRED;
- StockLow, about the SKU (`stock/<sku>`), when a change took its available units to or
  below its threshold.

- ReservationRestocked (`reservations/<reservation_id>`), when an order's cancellation
  put a CONFIRMED reservation's units back on hand (ReservationReleased is, by its
  contract, about a reservation that was never confirmed); orders waits for it to
  settle the cancellation.

And what it consumes: orders' OrderCancelled (`order_cancellation`).

Events are (aggregate id, message) pairs: the use case emits each through its unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message

from inventory.domain import (
    Adjusted,
    CancellationChange,
    CancellationEffect,
    InvariantViolated,
    OrderCancellation,
    ReleaseCause,
    ReservationChange,
    ReservationStatus,
    StockLevel,
)
from inventory.messages import lines_to_proto, timestamp
from shop.inventory.v1 import events_pb2
from shop.orders.v1 import events_pb2 as orders_events

Event = tuple[str, Message]

RELEASE_REASONS = {
    ReleaseCause.SAGA_COMPENSATION: events_pb2.RELEASE_REASON_SAGA_COMPENSATION,
    ReleaseCause.ORDER_CANCELLED: events_pb2.RELEASE_REASON_ORDER_CANCELLED,
}


def reservation_events(change: ReservationChange) -> list[Event]:
    """The events of a reservation's status change; none when nothing changed."""
    if not change.changed:
        return []
    reservation = change.reservation
    lines = lines_to_proto(reservation.lines)
    ids = {"reservation_id": reservation.reservation_id, "order_id": reservation.order_id}
    event: Message
    match reservation.status:
        case ReservationStatus.PENDING:
            event = events_pb2.StockReserved(
                **ids, lines=lines, expire_time=timestamp(reservation.expire_time)
            )
        case ReservationStatus.CONFIRMED:
            event = events_pb2.ReservationConfirmed(**ids, lines=lines)
        case ReservationStatus.RELEASED | ReservationStatus.EXPIRED:
            event = events_pb2.ReservationReleased(
                **ids, lines=lines, reason=release_reason(change), detail=change.detail
            )
    return [(reservation.reservation_id, event), *stock_low_events(change.low)]


def release_reason(change: ReservationChange) -> events_pb2.ReleaseReason.ValueType:
    """ReservationReleased's reason: EXPIRED for an expired reservation, else who
    released it."""
    if change.reservation.status is ReservationStatus.EXPIRED:
        return events_pb2.RELEASE_REASON_EXPIRED
    if change.cause is None:
        raise InvariantViolated(f"reservation {change.reservation.reservation_id}: released why?")
    return RELEASE_REASONS[change.cause]


def cancellation_events(cancellation: OrderCancellation, change: CancellationChange) -> list[Event]:
    """ReservationRestocked for a restock (a release publishes through its
    ReservationChange, as any other release does); nothing for the no-ops."""
    reservation = change.reservation
    if change.effect is not CancellationEffect.RESTOCKED or reservation is None:
        return []
    event = events_pb2.ReservationRestocked(
        reservation_id=reservation.reservation_id,
        order_id=reservation.order_id,
        lines=lines_to_proto(reservation.lines),
        detail=cancellation.detail,
    )
    return [(reservation.reservation_id, event)]


def adjustment_events(adjusted: Adjusted) -> list[Event]:
    return stock_low_events([adjusted.level] if adjusted.ran_low else [])


def stock_low_events(levels: Iterable[StockLevel]) -> list[Event]:
    return [
        (
            level.sku,
            events_pb2.StockLow(
                sku=level.sku,
                available=level.available,
                threshold=level.low_stock_threshold or 0,
                version=level.version,
            ),
        )
        for level in levels
    ]


# --- consumed -------------------------------------------------------------------------------


def order_cancellation(event: orders_events.OrderCancelled) -> OrderCancellation:
    """What inventory needs of an OrderCancelled (the consumer validated it already: the
    ids are UUIDs or, for the reservation, empty)."""
    return OrderCancellation(
        order_id=event.order_id,
        reservation_id=event.reservation_id or None,
        reason=event.reason,
    )
