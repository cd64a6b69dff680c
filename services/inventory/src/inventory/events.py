"""What inventory publishes (events.proto; where each goes is declared there):

- StockReserved, ReservationConfirmed and ReservationReleased, about the reservation
  (`reservations/<reservation_id>`), one per status change;
- StockLow, about the SKU (`stock/<sku>`), when a change took its available units to or
  below its threshold.

Events are (aggregate id, message) pairs: the use case emits each through its unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message

from inventory.domain import Adjusted, ReservationChange, ReservationStatus, StockLevel
from inventory.messages import lines_to_proto, timestamp
from shop.inventory.v1 import events_pb2

Event = tuple[str, Message]

RELEASE_REASONS = {
    ReservationStatus.RELEASED: events_pb2.RELEASE_REASON_SAGA_COMPENSATION,
    ReservationStatus.EXPIRED: events_pb2.RELEASE_REASON_EXPIRED,
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
                **ids, lines=lines, reason=RELEASE_REASONS[reservation.status], detail=change.detail
            )
    return [(reservation.reservation_id, event), *stock_low_events(change.low)]


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
